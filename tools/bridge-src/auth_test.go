package main

// The validator with real keys (RSA and ECDSA made here): what passes, what is refused with 401 and why,
// a missing scope (403), key rotation behind an unknown kid (rate-limited), and the HTTP side (WWW-Authenticate,
// the RFC 9728 document, the Authorization header removed).

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

const (
	testIssuer   = "https://idp.example.com"
	testAudience = "https://mcp.example.com/files"
)

type signer struct {
	kid string
	key crypto.Signer
	alg jose.SignatureAlgorithm
}

func newRSA(t testing.TB, kid string) signer {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return signer{kid, k, jose.RS256}
}

func newEC(t testing.TB, kid string) signer {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return signer{kid, k, jose.ES256}
}

func (s signer) jwk() jose.JSONWebKey {
	return jose.JSONWebKey{Key: s.key.Public(), KeyID: s.kid, Algorithm: string(s.alg), Use: "sig"}
}

func (s signer) sign(t testing.TB, claims map[string]any) string {
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: s.alg, Key: s.key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", s.kid))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jwt.Signed(sig).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func good(now time.Time) map[string]any {
	return map[string]any{"iss": testIssuer, "aud": testAudience, "sub": "alice", "exp": now.Add(time.Hour).Unix(),
		"iat": now.Unix(), "scope": "openid mcp:tools"}
}

func with(claims map[string]any, k string, v any) map[string]any {
	out := map[string]any{}
	for a, b := range claims {
		out[a] = b
	}
	if v == nil {
		delete(out, k)
	} else {
		out[k] = v
	}
	return out
}

// testValidator trusts `keys` (a function, so a test can rotate them) and counts the loads.
func testValidator(keys func() []jose.JSONWebKey, loads *int, now time.Time) *validator {
	src := &keySource{now: func() time.Time { return now }, every: refetchInterval,
		load: func(context.Context) (*jose.JSONWebKeySet, error) {
			*loads++
			return &jose.JSONWebKeySet{Keys: keys()}, nil
		}}
	return &validator{issuer: testIssuer, audiences: []string{testAudience}, scopes: []string{"mcp:tools"}, keys: src,
		now: func() time.Time { return now }}
}

// unsigned builds a token with any header and a given signature: the attacks a library must refuse.
func unsigned(header, claims map[string]any, sig []byte) string {
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	enc := base64.RawURLEncoding.EncodeToString
	return enc(h) + "." + enc(c) + "." + enc(sig)
}

func TestValidTokensPassAndBadOnesAreRefusedWithTheReason(t *testing.T) {
	now := time.Now()
	rs, es, other := newRSA(t, "rsa-1"), newEC(t, "ec-1"), newRSA(t, "rsa-1") // other: same kid, another key
	loads := 0
	v := testValidator(func() []jose.JSONWebKey { return []jose.JSONWebKey{rs.jwk(), es.jwk()} }, &loads, now)
	ctx := context.Background()
	for _, s := range []signer{rs, es} {
		who, fail := v.validate(ctx, s.sign(t, good(now)))
		if fail != nil || who.subject != "alice" || who.issuer != testIssuer {
			t.Fatalf("%s: a valid token is refused: %v", s.alg, fail)
		}
	}
	if who, fail := v.validate(ctx, rs.sign(t, with(with(good(now), "scope", nil), "scp", []string{"mcp:tools"}))); fail != nil || who.subject != "alice" {
		t.Fatalf("scp as an array: %v", fail)
	}
	if _, fail := v.validate(ctx, rs.sign(t, with(good(now), "aud", []string{"other", testAudience}))); fail != nil {
		t.Fatalf("one of several audiences: %v", fail)
	}
	if _, fail := v.validate(ctx, rs.sign(t, with(good(now), "exp", now.Add(-30*time.Second).Unix()))); fail != nil {
		t.Fatalf("expired within the skew: %v", fail)
	}

	pubDER, _ := x509.MarshalPKIXPublicKey(rs.key.Public())
	mac := hmac.New(sha256.New, pubDER)
	hsHeader := map[string]any{"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}
	h, _ := json.Marshal(hsHeader)
	c, _ := json.Marshal(good(now))
	mac.Write([]byte(base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)))
	for name, c := range map[string]struct {
		token string
		want  string
	}{
		"expired":                             {rs.sign(t, with(good(now), "exp", now.Add(-2*time.Minute).Unix())), "exp"},
		"no exp":                              {rs.sign(t, with(good(now), "exp", nil)), "no exp"},
		"not yet valid":                       {rs.sign(t, with(good(now), "nbf", now.Add(5*time.Minute).Unix())), "nbf"},
		"wrong audience":                      {rs.sign(t, with(good(now), "aud", "https://mcp.example.com/other")), "aud"},
		"no audience":                         {rs.sign(t, with(good(now), "aud", nil)), "aud"},
		"wrong issuer":                        {rs.sign(t, with(good(now), "iss", "https://evil.example.com")), "iss"},
		"another key":                         {other.sign(t, good(now)), "signature"},
		"alg none":                            {unsigned(map[string]any{"alg": "none", "typ": "JWT"}, good(now), nil), "allowed algorithm"},
		"HS256 with the public key as secret": {unsigned(hsHeader, good(now), mac.Sum(nil)), "allowed algorithm"},
		"ES256 header on an RSA kid": {unsigned(map[string]any{"alg": "ES256", "kid": "rsa-1"}, good(now),
			make([]byte, 64)), "signature"},
		"garbage": {"a.b.c", "JWT"},
	} {
		_, fail := v.validate(ctx, c.token)
		if fail == nil || fail.status != http.StatusUnauthorized || fail.code != "invalid_token" || !strings.Contains(fail.why, c.want) {
			t.Errorf("%s: got %+v, want 401 invalid_token naming %q", name, fail, c.want)
		}
	}
	_, fail := v.validate(ctx, rs.sign(t, with(good(now), "scope", "openid")))
	if fail == nil || fail.status != http.StatusForbidden || fail.code != "insufficient_scope" || !strings.Contains(fail.why, "mcp:tools") {
		t.Errorf("a missing scope: got %+v, want 403 insufficient_scope", fail)
	}
}

func TestAnUnknownKidLoadsTheKeysAgainAtMostEveryInterval(t *testing.T) {
	now := time.Now()
	old, rotated := newRSA(t, "k1"), newEC(t, "k2")
	published := []jose.JSONWebKey{old.jwk()}
	loads := 0
	v := testValidator(func() []jose.JSONWebKey { return published }, &loads, now)
	clock := now
	v.keys.now = func() time.Time { return clock }
	ctx := context.Background()
	if _, fail := v.validate(ctx, old.sign(t, good(now))); fail != nil || loads != 1 {
		t.Fatalf("first token: %v, %d loads", fail, loads)
	}
	// a token of a key not published yet: one load (rate limit not hit on the first miss after the interval)
	clock = now.Add(refetchInterval + time.Second)
	if _, fail := v.validate(ctx, rotated.sign(t, good(now))); fail == nil || loads != 2 {
		t.Fatalf("unknown kid before rotation: %v, %d loads", fail, loads)
	}
	published = []jose.JSONWebKey{rotated.jwk()}
	// within the interval the keys are not loaded again, however many unknown kids arrive
	for range 5 {
		if _, fail := v.validate(ctx, rotated.sign(t, good(now))); fail == nil {
			t.Fatal("the rotated key was loaded within the rate limit")
		}
	}
	if loads != 2 {
		t.Fatalf("%d loads within the interval, want 2", loads)
	}
	clock = clock.Add(refetchInterval + time.Second)
	if _, fail := v.validate(ctx, rotated.sign(t, good(now))); fail != nil || loads != 3 {
		t.Fatalf("after rotation: %v, %d loads", fail, loads)
	}
	// the known key needs no load
	if _, fail := v.validate(ctx, rotated.sign(t, good(now))); fail != nil || loads != 3 {
		t.Fatalf("known kid: %v, %d loads", fail, loads)
	}
}

func TestTheEndpointAnswers401And403WithWWWAuthenticateAndServesTheMetadata(t *testing.T) {
	now := time.Now()
	rs := newRSA(t, "k1")
	loads := 0
	a := &auth{v: testValidator(func() []jose.JSONWebKey { return []jose.JSONWebKey{rs.jwk()} }, &loads, now),
		resource: testAudience, path: "/mcp"}
	var seen http.Header
	handler := func(w http.ResponseWriter, req *http.Request) {
		if _, ok := a.check(w, req); ok {
			seen = req.Header.Clone()
			w.WriteHeader(http.StatusOK)
		}
	}
	do := func(token string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "http://files:8000/mcp", nil)
		if token != "" {
			req.Header.Set("Authorization", token)
		}
		rec := httptest.NewRecorder()
		handler(rec, req)
		return rec
	}
	meta := `resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/files"`
	rec := do("")
	if rec.Code != 401 || rec.Header().Get("WWW-Authenticate") != `Bearer `+meta+`, scope="mcp:tools"` {
		t.Errorf("no token: %d %q", rec.Code, rec.Header().Get("WWW-Authenticate"))
	}
	rec = do("Bearer " + rs.sign(t, with(good(now), "aud", "other")))
	if got := rec.Header().Get("WWW-Authenticate"); rec.Code != 401 || !strings.Contains(got, meta) || !strings.Contains(got, `error="invalid_token"`) {
		t.Errorf("wrong audience: %d %q", rec.Code, got)
	}
	rec = do("Basic YWxpY2U6c2VjcmV0")
	if rec.Code != 401 || !strings.Contains(rec.Header().Get("WWW-Authenticate"), `error="invalid_request"`) {
		t.Errorf("basic: %d %q", rec.Code, rec.Header().Get("WWW-Authenticate"))
	}
	rec = do("Bearer " + rs.sign(t, with(good(now), "scope", "openid")))
	if got := rec.Header().Get("WWW-Authenticate"); rec.Code != 403 || !strings.Contains(got, `error="insufficient_scope"`) || !strings.Contains(got, `scope="mcp:tools"`) {
		t.Errorf("missing scope: %d %q", rec.Code, got)
	}
	rec = do("Bearer " + rs.sign(t, good(now)))
	if rec.Code != 200 || seen.Get("Authorization") != "" {
		t.Errorf("valid token: %d, Authorization passed on: %q", rec.Code, seen.Get("Authorization"))
	}

	mrec := httptest.NewRecorder()
	a.metadata(mrec, httptest.NewRequest(http.MethodGet, "http://files:8000/.well-known/oauth-protected-resource/mcp", nil))
	var doc map[string]any
	if err := json.Unmarshal(mrec.Body.Bytes(), &doc); err != nil || mrec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("metadata: %v %s", err, mrec.Body)
	}
	want := `{"authorization_servers":["https://idp.example.com"],"bearer_methods_supported":["header"],"resource":"https://mcp.example.com/files","scopes_supported":["mcp:tools"]}`
	if got, _ := json.Marshal(doc); string(got) != want {
		t.Errorf("metadata: %s\nwant %s", got, want)
	}
	// without --resource-url the resource is the endpoint on the request's Host
	a.resource = ""
	rec = do("")
	if got := rec.Header().Get("WWW-Authenticate"); !strings.Contains(got, `resource_metadata="http://files:8000/.well-known/oauth-protected-resource/mcp"`) {
		t.Errorf("metadata URL from Host: %q", got)
	}
}

func TestIssuerURLsMustBeHTTPSWithoutUserinfo(t *testing.T) {
	for raw, ok := range map[string]bool{
		"https://idp.example.com":          true,
		"https://idp.example.com/realms/x": true,
		"http://127.0.0.1:5556":            true,
		"http://localhost:5556/dex":        true,
		"http://idp.example.com":           false,
		"https://user:pw@idp.example.com":  false,
		"https://idp.example.com/?x=1":     false,
		"idp.example.com":                  false,
		"ftp://idp.example.com":            false,
	} {
		if err := checkIssuerURL(raw); (err == nil) != ok {
			t.Errorf("checkIssuerURL(%q) = %v, want ok=%v", raw, err, ok)
		}
	}
}

func TestAnIssuerThatIsDownIsAskedAtMostEveryRetryIntervalAndRequestsGet503(t *testing.T) {
	now := time.Now()
	clock := now
	loads := 0
	up := false
	rs := newRSA(t, "k1")
	src := &keySource{now: func() time.Time { return clock }, every: refetchInterval,
		load: func(context.Context) (*jose.JSONWebKeySet, error) {
			loads++
			if !up {
				return nil, errors.New("connection refused")
			}
			return &jose.JSONWebKeySet{Keys: []jose.JSONWebKey{rs.jwk()}}, nil
		}}
	v := &validator{issuer: testIssuer, audiences: []string{testAudience}, keys: src, now: func() time.Time { return now }}
	token := rs.sign(t, good(now))
	for range 5 {
		if _, fail := v.validate(context.Background(), token); fail == nil || fail.status != http.StatusServiceUnavailable {
			t.Fatalf("issuer down: %+v, want 503", fail)
		}
	}
	if loads != 1 {
		t.Fatalf("%d loads while the issuer is down within the retry interval, want 1", loads)
	}
	up = true
	clock = clock.Add(retryInterval + time.Second)
	if _, fail := v.validate(context.Background(), token); fail != nil || loads != 2 {
		t.Fatalf("issuer back: %v, %d loads", fail, loads)
	}
}

func TestConcurrentFirstRequestsShareOneLoad(t *testing.T) {
	now := time.Now()
	rs := newRSA(t, "k1")
	release := make(chan struct{})
	var loads atomic.Int32
	src := &keySource{now: time.Now, every: refetchInterval,
		load: func(context.Context) (*jose.JSONWebKeySet, error) {
			loads.Add(1)
			<-release
			return &jose.JSONWebKeySet{Keys: []jose.JSONWebKey{rs.jwk()}}, nil
		}}
	v := &validator{issuer: testIssuer, audiences: []string{testAudience}, keys: src, now: func() time.Time { return now }}
	token := rs.sign(t, good(now))
	errs := make(chan *authError, 8)
	for range 8 {
		go func() { _, fail := v.validate(context.Background(), token); errs <- fail }()
	}
	time.Sleep(50 * time.Millisecond)
	close(release)
	for range 8 {
		if fail := <-errs; fail != nil {
			t.Errorf("a request waiting on the first load: %v", fail)
		}
	}
	if loads.Load() != 1 {
		t.Errorf("%d loads, want 1", loads.Load())
	}
}

// BenchmarkValidate is the cost one request pays with --jwt-issuer (keys cached).
func BenchmarkValidate(b *testing.B) {
	now := time.Now()
	for _, s := range []signer{newRSA(b, "rsa"), newEC(b, "ec")} {
		loads := 0
		v := testValidator(func() []jose.JSONWebKey { return []jose.JSONWebKey{s.jwk()} }, &loads, now)
		token := s.sign(b, good(now))
		b.Run(string(s.alg), func(b *testing.B) {
			for b.Loop() {
				if _, fail := v.validate(context.Background(), token); fail != nil {
					b.Fatal(fail)
				}
			}
		})
	}
}

func TestAValidatedTokenIsTakenAgainWithoutItsSignatureUntilItsExpiryAtMostAMinute(t *testing.T) {
	now := time.Now()
	key := newRSA(t, "k1")
	loads := 0
	keys := []jose.JSONWebKey{key.jwk()}
	v := testValidator(func() []jose.JSONWebKey { return keys }, &loads, now)
	token := key.sign(t, with(good(now), "exp", now.Add(30*time.Second).Unix()))
	if _, fail := v.validate(context.Background(), token); fail != nil {
		t.Fatal(fail.why)
	}
	keys = nil // the issuer dropped the key: a token checked again would fail
	v.keys.keys = nil
	if who, fail := v.validate(context.Background(), token); fail != nil || who.subject == "" {
		t.Fatalf("the validated token was checked again: %v", fail)
	}
	// past exp (+ the skew) the token is checked again, and refused
	v.now = func() time.Time { return now.Add(30*time.Second + authSkew + time.Second) }
	if _, fail := v.validate(context.Background(), token); fail == nil {
		t.Fatal("an expired token passed from the cache")
	}
}

func TestTheTokenCacheIsBounded(t *testing.T) {
	defer func(n int) { tokenCacheSize = n }(tokenCacheSize)
	tokenCacheSize = 16
	now := time.Now()
	key := newRSA(t, "k1")
	loads := 0
	v := testValidator(func() []jose.JSONWebKey { return []jose.JSONWebKey{key.jwk()} }, &loads, now)
	for i := range tokenCacheSize + 10 {
		if _, fail := v.validate(context.Background(), key.sign(t, with(good(now), "jti", fmt.Sprint(i)))); fail != nil {
			t.Fatal(fail.why)
		}
	}
	if n := len(v.passed); n > tokenCacheSize {
		t.Errorf("%d tokens kept, more than %d", n, tokenCacheSize)
	}
}
