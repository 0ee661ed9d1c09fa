// Authentication on the MCP endpoint: the bridge is an OAuth 2.1 resource server (the MCP authorization
// specification, 2025-06-18). With --jwt-issuer every request to the MCP endpoint needs a Bearer JWT signed by
// one of the issuer's keys (its JWKS: --jwks-file, or OIDC discovery from the issuer), issued by it (iss), for
// this server (aud), valid now (exp required, nbf; 60 s skew), signed with an asymmetric algorithm (never
// `none`, never HMAC: a public key is no secret) and carrying --required-scopes (`scope`, space-separated, or
// `scp`, an array). No token or a bad one: 401 with WWW-Authenticate naming the RFC 9728 metadata document,
// served at /.well-known/oauth-protected-resource<path>; a missing scope: 403 error="insufficient_scope". The
// Authorization header never reaches the server process (a stdio child gets no headers at all) and is never
// logged; a session belongs to the subject whose token opened it.
//
// JWT parsing and signatures are go-jose's (github.com/go-jose/go-jose/v4): no dependencies beyond the standard
// library, an explicit algorithm list on every parse, and JWK/JWKS types; the policy around it is here.
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

const (
	metadataPrefix = "/.well-known/oauth-protected-resource"
	// clock skew accepted on exp, nbf and iat
	authSkew = 60 * time.Second
	// a JWKS or discovery document larger than this is refused
	fetchLimit   = 1 << 20
	fetchTimeout = 10 * time.Second
	// unknown kid: the keys are fetched again at most this often
	refetchInterval = 30 * time.Second
	// no keys loaded yet (the issuer unreachable): tried again at most this often
	retryInterval = 5 * time.Second
)

// asymmetric signature algorithms only: `none` is not even parsed by go-jose, HMAC is refused here
var allowedAlgorithms = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512, jose.EdDSA,
}

// authError is why a request is refused: status 401 (no or bad token) or 403 (a scope missing).
type authError struct {
	status int
	code   string // the RFC 6750 error code, "" when no token was given
	why    string
}

func (e *authError) Error() string { return e.why }

func unauthorized(code, format string, a ...any) *authError {
	return &authError{status: http.StatusUnauthorized, code: code, why: fmt.Sprintf(format, a...)}
}

// caller is who a valid token names, and its claims when the policy has rules that read them.
type caller struct {
	issuer, subject string
	claims          map[string]any
}

// same reports whether `o` is the same caller (another token of the same subject from the same issuer).
func (c caller) same(o caller) bool { return c.issuer == o.issuer && c.subject == o.subject }

// maxTokenBytes bounds a bearer token (a JWT is rarely above 4 KiB): a longer one is refused unread, and the
// validated-token cache holds at most tokenCacheSize times this.
const maxTokenBytes = 16 << 10

// keySource holds the issuer's keys: loaded on first use, loaded again on a kid it does not know (at most
// every refetchInterval), so a rotated key is picked up without a restart. A load runs outside the lock: a
// request whose kid is known never waits for one (requests wait only while no keys were ever loaded).
type keySource struct {
	load    func(context.Context) (*jose.JSONWebKeySet, error)
	now     func() time.Time
	every   time.Duration
	mu      sync.Mutex
	keys    *jose.JSONWebKeySet
	fetched time.Time
	loading chan struct{} // non-nil while a load runs; closed when it ends
}

func (k *keySource) find(kid string) []jose.JSONWebKey {
	if k.keys == nil {
		return nil
	}
	if kid == "" {
		return k.keys.Keys
	}
	return k.keys.Key(kid)
}

// lookup returns the keys a token's kid names (every key when it names none); errNoKeys when none could be
// loaded at all.
func (k *keySource) lookup(ctx context.Context, kid string) ([]jose.JSONWebKey, error) {
	k.mu.Lock()
	if found := k.find(kid); len(found) > 0 {
		k.mu.Unlock()
		return found, nil
	}
	if k.loading != nil && k.keys == nil { // the first load is under way: wait for it
		done := k.loading
		k.mu.Unlock()
		select {
		case <-done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		k.mu.Lock()
		defer k.mu.Unlock()
		if k.keys == nil {
			return nil, errNoKeys
		}
		return k.find(kid), nil
	}
	if k.loading != nil || (!k.fetched.IsZero() && k.now().Sub(k.fetched) < k.wait()) {
		// a load is under way, or was done too recently: an unknown kid, or an issuer that is down, must
		// not make the bridge hammer it
		defer k.mu.Unlock()
		if k.keys == nil {
			return nil, errNoKeys
		}
		return nil, nil
	}
	done := make(chan struct{})
	k.loading = done
	k.mu.Unlock()
	keys, err := k.load(context.WithoutCancel(ctx)) // others may wait on it: not cut short by this request
	k.mu.Lock()
	defer k.mu.Unlock()
	k.fetched, k.loading = k.now(), nil
	close(done)
	if err != nil {
		log.Printf("auth: cannot load the issuer's keys: %v", err)
		if k.keys == nil {
			return nil, errNoKeys
		}
		return nil, nil
	}
	k.keys = keys
	return k.find(kid), nil
}

var errNoKeys = errors.New("the issuer's keys cannot be loaded")

// wait is how long after a load the keys may be loaded again: refetchInterval, or retryInterval while none
// could be loaded yet (every request fails until then).
func (k *keySource) wait() time.Duration {
	if k.keys == nil {
		return min(k.every, retryInterval)
	}
	return k.every
}

// fetch GETs a JSON document with a timeout and a size cap.
func fetch(ctx context.Context, client *http.Client, u string, into any) error {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, fetchLimit+1))
	if err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	if len(body) > fetchLimit {
		return fmt.Errorf("GET %s: larger than %d bytes", u, fetchLimit)
	}
	if err := json.Unmarshal(body, into); err != nil {
		return fmt.Errorf("GET %s: not JSON: %w", u, err)
	}
	return nil
}

// discovered loads the JWKS named by the issuer's OpenID discovery document (whose issuer must be ours).
func discovered(issuer string) func(context.Context) (*jose.JSONWebKeySet, error) {
	client := &http.Client{Timeout: fetchTimeout}
	return func(ctx context.Context) (*jose.JSONWebKeySet, error) {
		var doc struct {
			Issuer  string `json:"issuer"`
			JWKSURI string `json:"jwks_uri"`
		}
		if err := fetch(ctx, client, strings.TrimSuffix(issuer, "/")+"/.well-known/openid-configuration", &doc); err != nil {
			return nil, err
		}
		if doc.Issuer != issuer {
			return nil, fmt.Errorf("the discovery document names issuer %q, not %q", doc.Issuer, issuer)
		}
		if err := checkIssuerURL(doc.JWKSURI); err != nil {
			return nil, fmt.Errorf("jwks_uri: %w", err)
		}
		var set jose.JSONWebKeySet
		if err := fetch(ctx, client, doc.JWKSURI, &set); err != nil {
			return nil, err
		}
		return &set, nil
	}
}

// fromFile loads a JWKS document from a file (a mounted ConfigMap key: read again on an unknown kid, so an
// updated ConfigMap is picked up).
func fromFile(path string) func(context.Context) (*jose.JSONWebKeySet, error) {
	return func(context.Context) (*jose.JSONWebKeySet, error) {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		body, err := io.ReadAll(io.LimitReader(f, fetchLimit+1))
		if err != nil {
			return nil, err
		}
		if len(body) > fetchLimit {
			return nil, fmt.Errorf("%s: larger than %d bytes", path, fetchLimit)
		}
		var set jose.JSONWebKeySet
		if err := json.Unmarshal(body, &set); err != nil {
			return nil, fmt.Errorf("%s: not a JWKS document: %w", path, err)
		}
		return &set, nil
	}
}

// checkIssuerURL: https, or http to a loopback address (a local test issuer); no userinfo, no query or fragment.
func checkIssuerURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%q is not an absolute URL", raw)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%q must have no userinfo, query or fragment", raw)
	}
	if u.Scheme == "https" {
		return nil
	}
	if ip := net.ParseIP(u.Hostname()); u.Scheme == "http" && (u.Hostname() == "localhost" || (ip != nil && ip.IsLoopback())) {
		return nil
	}
	return fmt.Errorf("%q must be https (http only to a loopback address)", raw)
}

// validator checks Bearer JWTs against one issuer.
type validator struct {
	issuer    string
	audiences []string
	scopes    []string
	keys      *keySource
	now       func() time.Time
	claims    bool  // keep each token's claims in its caller (the policy has rules that read them)
	subjects  globs // when it has globs: the subjects (sub) that may call; another one gets a 403

	mu     sync.Mutex
	passed map[[32]byte]passedToken // tokens that validated, by sha256, until `until`
}

// passedToken is a token that validated: who it names, and until when it is taken without checking it again.
type passedToken struct {
	who   caller
	until time.Time
}

// Validating an RS256 token costs about 70 µs of CPU, most of a request's cost through the bridge; clients send
// the same token again and again. A token that validated is taken again without checking its signature for at
// most tokenCacheTTL and never past its exp (with the skew), among at most tokenCacheSize tokens (the map is
// emptied when full: a flood of distinct valid tokens costs validations, never memory).
const tokenCacheTTL = time.Minute

var tokenCacheSize = 4096 // a variable: the test bounds it lower

// claims beyond the registered ones that the validator reads
type extraClaims struct {
	Scope string          `json:"scope"`
	Scp   json.RawMessage `json:"scp"`
}

func (e extraClaims) granted() map[string]bool {
	out := map[string]bool{}
	for _, s := range strings.Fields(e.Scope) {
		out[s] = true
	}
	if len(e.Scp) > 0 {
		var list []string
		var one string
		if json.Unmarshal(e.Scp, &list) == nil {
			for _, s := range list {
				out[s] = true
			}
		} else if json.Unmarshal(e.Scp, &one) == nil {
			for _, s := range strings.Fields(one) {
				out[s] = true
			}
		}
	}
	return out
}

// validate returns the caller a raw JWT names, or why it is refused.
func (v *validator) validate(ctx context.Context, raw string) (caller, *authError) {
	sum := sha256.Sum256([]byte(raw))
	now := v.now()
	v.mu.Lock()
	hit, ok := v.passed[sum]
	v.mu.Unlock()
	if ok && now.Before(hit.until) {
		return hit.who, nil
	}
	who, expiry, fail := v.check(ctx, raw)
	if fail != nil {
		return caller{}, fail
	}
	until := now.Add(tokenCacheTTL)
	if last := expiry.Add(authSkew); last.Before(until) {
		until = last
	}
	v.mu.Lock()
	if v.passed == nil || len(v.passed) >= tokenCacheSize {
		v.passed = map[[32]byte]passedToken{}
	}
	v.passed[sum] = passedToken{who: who, until: until}
	v.mu.Unlock()
	return who, nil
}

// check validates a raw JWT: the caller it names and its expiry, or why it is refused.
func (v *validator) check(ctx context.Context, raw string) (caller, time.Time, *authError) {
	if len(raw) > maxTokenBytes {
		return caller{}, time.Time{}, unauthorized("invalid_token", "the token is longer than %d bytes", maxTokenBytes)
	}
	tok, err := jwt.ParseSigned(raw, allowedAlgorithms)
	if err != nil {
		return caller{}, time.Time{}, unauthorized("invalid_token", "the token is not a JWT signed with an allowed algorithm")
	}
	if len(tok.Headers) != 1 {
		return caller{}, time.Time{}, unauthorized("invalid_token", "the token must have exactly one signature")
	}
	header := tok.Headers[0]
	keys, err := v.keys.lookup(ctx, header.KeyID)
	if err != nil {
		return caller{}, time.Time{}, &authError{status: http.StatusServiceUnavailable, why: err.Error()}
	}
	var claims jwt.Claims
	var extra extraClaims
	var all map[string]any
	out := []any{&claims, &extra}
	if v.claims {
		out = append(out, &all)
	}
	verified := false
	for _, key := range keys {
		if !usable(key, header.Algorithm) {
			continue
		}
		if tok.Claims(key.Key, out...) == nil {
			verified = true
			break
		}
	}
	if !verified {
		return caller{}, time.Time{}, unauthorized("invalid_token", "the token's signature does not verify with the issuer's keys")
	}
	if claims.Expiry == nil {
		return caller{}, time.Time{}, unauthorized("invalid_token", "the token has no exp")
	}
	expected := jwt.Expected{Issuer: v.issuer, AnyAudience: v.audiences, Time: v.now()}
	if err := claims.ValidateWithLeeway(expected, authSkew); err != nil {
		return caller{}, time.Time{}, unauthorized("invalid_token", "%s", strings.TrimPrefix(err.Error(), "go-jose/go-jose/jwt: "))
	}
	if len(v.subjects.allow) > 0 && !matches(v.subjects.allowRE, claims.Subject) {
		return caller{}, time.Time{}, &authError{status: http.StatusForbidden,
			why: fmt.Sprintf("%s may not call this server", claims.Subject)}
	}
	granted := extra.granted()
	var missing []string
	for _, s := range v.scopes {
		if !granted[s] {
			missing = append(missing, s)
		}
	}
	if len(missing) > 0 {
		return caller{}, time.Time{}, &authError{status: http.StatusForbidden, code: "insufficient_scope",
			why: "the token lacks scope " + strings.Join(missing, " ")}
	}
	return caller{issuer: claims.Issuer, subject: claims.Subject, claims: all}, claims.Expiry.Time(), nil
}

// usable: a public signing key whose type fits the token's algorithm (and whose own alg, when it names one, is it).
func usable(key jose.JSONWebKey, alg string) bool {
	if !key.IsPublic() || (key.Use != "" && key.Use != "sig") || (key.Algorithm != "" && key.Algorithm != alg) {
		return false
	}
	switch key.Key.(type) {
	case *rsa.PublicKey:
		return strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS")
	case *ecdsa.PublicKey:
		return strings.HasPrefix(alg, "ES")
	case ed25519.PublicKey:
		return alg == string(jose.EdDSA)
	}
	return false
}

// auth is the MCP endpoint's resource-server side: the validator plus what the 401s and the metadata say.
type auth struct {
	v        *validator // --jwt-issuer's tokens; nil: none
	sa       *validator // the cluster's ServiceAccount tokens (--sa-issuer); nil: none
	resource string     // the canonical URL of the MCP endpoint; "" means: from each request's Host
	path     string
	failed   func(*authError) // told of each refusal (the metrics); nil: none
}

func newAuth(issuer string, audiences, scopes []string, jwksFile, resource, path string) (*auth, error) {
	if resource != "" {
		if u, err := url.Parse(resource); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
			return nil, fmt.Errorf("--resource-url %q must be an http(s) URL without userinfo", resource)
		}
	}
	a := &auth{resource: resource, path: path}
	if issuer == "" {
		return a, nil
	}
	if err := checkIssuerURL(issuer); err != nil {
		return nil, fmt.Errorf("--jwt-issuer: %w", err)
	}
	if len(audiences) == 0 {
		if resource == "" {
			return nil, errors.New("--jwt-issuer needs --jwt-audience or --resource-url (the audience tokens must name)")
		}
		audiences = []string{resource}
	}
	load := discovered(issuer)
	if jwksFile != "" {
		load = fromFile(jwksFile)
	}
	keys := &keySource{load: load, now: time.Now, every: refetchInterval}
	a.v = &validator{issuer: issuer, audiences: audiences, scopes: scopes, keys: keys, now: time.Now}
	return a, nil
}

// acceptServiceAccounts makes the endpoint accept, besides --jwt-issuer's tokens, Kubernetes ServiceAccount tokens
// from the cluster's issuer whose subject (system:serviceaccount:NAMESPACE:NAME) one of `subjects` (globs)
// matches, with the cluster's keys from `jwksFile` (the operator writes them into a ConfigMap: the pod has no
// credential to read them from the apiserver itself).
func (a *auth) acceptServiceAccounts(issuer, audience, jwksFile string, subjects []string) error {
	if err := checkIssuerURL(issuer); err != nil {
		return fmt.Errorf("--sa-issuer: %w", err)
	}
	if a.v != nil && a.v.issuer == issuer {
		return errors.New("--sa-issuer must not be --jwt-issuer: a token is checked by its issuer")
	}
	if jwksFile == "" || len(subjects) == 0 {
		return errors.New("--sa-issuer needs --sa-jwks-file (the cluster's keys) and --sa-subjects")
	}
	if audience == "" {
		if a.resource == "" {
			return errors.New("--sa-issuer needs --sa-audience or --resource-url (the audience tokens must name)")
		}
		audience = a.resource
	}
	keys := &keySource{load: fromFile(jwksFile), now: time.Now, every: refetchInterval}
	a.sa = &validator{issuer: issuer, audiences: []string{audience}, keys: keys, now: time.Now,
		subjects: newGlobs(subjects, nil)}
	return nil
}

// validator is the one that checks `raw`: the ServiceAccount issuer's when the token names it (or there is no
// other), else --jwt-issuer's.
func (a *auth) validator(raw string) *validator {
	if a.sa == nil {
		return a.v
	}
	if a.v == nil {
		return a.sa
	}
	var claims struct {
		Issuer string `json:"iss"`
	}
	parts := strings.Split(raw, ".")
	if len(parts) == 3 {
		if payload, err := base64.RawURLEncoding.DecodeString(parts[1]); err == nil && json.Unmarshal(payload, &claims) == nil && claims.Issuer == a.sa.issuer {
			return a.sa
		}
	}
	return a.v
}

// scopes are the scopes --jwt-issuer's tokens must carry (none without it).
func (a *auth) scopes() []string {
	if a.v == nil {
		return nil
	}
	return a.v.scopes
}

// resourceURL is the protected resource's identifier: --resource-url, else the endpoint on the request's Host.
func (a *auth) resourceURL(req *http.Request) string {
	if a.resource != "" {
		return a.resource
	}
	scheme := "http"
	if req.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + req.Host + a.path
}

// metadataURL is where the resource's RFC 9728 document is: the well-known prefix inserted before its path.
func (a *auth) metadataURL(req *http.Request) string {
	u, err := url.Parse(a.resourceURL(req))
	if err != nil {
		return metadataPrefix
	}
	return u.Scheme + "://" + u.Host + metadataPrefix + strings.TrimSuffix(u.EscapedPath(), "/")
}

// metadata serves the RFC 9728 protected-resource metadata document.
func (a *auth) metadata(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	servers := []string{} // ServiceAccount tokens come from the kubelet, not from an authorization server
	if a.v != nil {
		servers = append(servers, a.v.issuer)
	}
	doc := map[string]any{
		"resource":                 a.resourceURL(req),
		"authorization_servers":    servers,
		"bearer_methods_supported": []string{"header"},
		"scopes_supported":         append([]string{}, a.scopes()...),
	}
	body, _ := json.Marshal(doc)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "max-age=300")
	_, _ = w.Write(body)
}

// quoted is an RFC 7235 quoted-string (the values here have no quotes or backslashes, but be safe).
func quoted(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// check authenticates a request to the MCP endpoint: the caller, or false once it has answered the refusal.
// The Authorization header is removed from the request either way.
func (a *auth) check(w http.ResponseWriter, req *http.Request) (caller, bool) {
	header := req.Header.Get("Authorization")
	req.Header.Del("Authorization")
	var fail *authError
	var who caller
	scheme, token, found := strings.Cut(header, " ")
	switch {
	case header == "":
		fail = &authError{status: http.StatusUnauthorized, why: "no bearer token"}
	case !found || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "":
		fail = unauthorized("invalid_request", "the Authorization header is not a Bearer token")
	default:
		raw := strings.TrimSpace(token)
		who, fail = a.validator(raw).validate(req.Context(), raw)
	}
	if fail == nil {
		return who, true
	}
	if a.failed != nil {
		a.failed(fail)
	}
	log.Printf("refused a %s: %s", req.Method, fail.why) // never the token
	if fail.status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
		http.Error(w, "Service Unavailable: "+fail.why, fail.status)
		return caller{}, false
	}
	params := []string{"resource_metadata=" + quoted(a.metadataURL(req))}
	if scopes := a.scopes(); len(scopes) > 0 {
		params = append(params, "scope="+quoted(strings.Join(scopes, " ")))
	}
	if fail.code != "" {
		params = append(params, "error="+quoted(fail.code), "error_description="+quoted(fail.why))
	}
	w.Header().Set("WWW-Authenticate", "Bearer "+strings.Join(params, ", "))
	http.Error(w, http.StatusText(fail.status)+": "+fail.why, fail.status)
	return caller{}, false
}

// listFlag is a repeatable flag whose values may also be comma-separated.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for _, e := range strings.Split(v, ",") {
		if e = strings.TrimSpace(e); e != "" && !slices.Contains(*l, e) {
			*l = append(*l, e)
		}
	}
	return nil
}
