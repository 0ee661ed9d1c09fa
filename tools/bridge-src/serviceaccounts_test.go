package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

const clusterIssuer = "https://kubernetes.default.svc.cluster.local"

// saAuth is an endpoint taking --jwt-issuer's tokens (when jwt) and the cluster's ServiceAccount tokens of the
// agents namespace and of the operator, with the cluster's keys in a JWKS file.
func saAuth(t *testing.T, jwt bool, cluster signer, idp signer) *auth {
	t.Helper()
	dir := t.TempDir()
	raw, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{cluster.jwk()}})
	file := filepath.Join(dir, "jwks.json")
	if err := os.WriteFile(file, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	issuer := ""
	if jwt {
		issuer = testIssuer
	}
	a, err := newAuth(issuer, nil, []string{"mcp:tools"}, "", testAudience, "/mcp")
	if err != nil {
		t.Fatal(err)
	}
	if jwt {
		loads := 0
		a.v = testValidator(func() []jose.JSONWebKey { return []jose.JSONWebKey{idp.jwk()} }, &loads, time.Now())
	}
	subjects := []string{"system:serviceaccount:agents:*", "system:serviceaccount:mcpop-system:mcpop-operator"}
	if err := a.acceptServiceAccounts(clusterIssuer, "", file, subjects); err != nil {
		t.Fatal(err)
	}
	return a
}

// projected is a ServiceAccount token as the kubelet projects it.
func projected(t *testing.T, s signer, namespace, name, audience string) string {
	now := time.Now()
	return s.sign(t, map[string]any{"iss": clusterIssuer, "aud": []string{audience},
		"sub": "system:serviceaccount:" + namespace + ":" + name, "exp": now.Add(time.Hour).Unix(), "iat": now.Unix(),
		"nbf": now.Unix(), "kubernetes.io": map[string]any{"namespace": namespace,
			"serviceaccount": map[string]any{"name": name, "uid": "u-1"}}})
}

func status(t *testing.T, a *auth, token string) (int, http.Header) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "http://files:8000/mcp", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	if _, ok := a.check(rec, req); ok {
		return http.StatusOK, rec.Header()
	}
	return rec.Code, rec.Header()
}

func TestAProjectedServiceAccountTokenOfAnAllowedSubjectIsAccepted(t *testing.T) {
	cluster, idp := newRSA(t, "cluster-1"), newRSA(t, "idp-1")
	for _, jwt := range []bool{true, false} {
		a := saAuth(t, jwt, cluster, idp)
		for _, sa := range [][2]string{{"agents", "planner"}, {"mcpop-system", "mcpop-operator"}} {
			if code, _ := status(t, a, projected(t, cluster, sa[0], sa[1], testAudience)); code != http.StatusOK {
				t.Errorf("jwt=%v: %s/%s got %d", jwt, sa[0], sa[1], code)
			}
		}
	}
}

func TestAServiceAccountOutsideTheSubjectsIsForbidden(t *testing.T) {
	cluster, idp := newRSA(t, "cluster-1"), newRSA(t, "idp-1")
	a := saAuth(t, true, cluster, idp)
	code, _ := status(t, a, projected(t, cluster, "other-team", "bot", testAudience))
	if code != http.StatusForbidden {
		t.Fatalf("another namespace's ServiceAccount: %d", code)
	}
	if code, _ = status(t, a, projected(t, cluster, "mcpop-system", "default", testAudience)); code != http.StatusForbidden {
		t.Fatalf("the operator namespace's other ServiceAccount: %d", code)
	}
}

func TestServiceAccountTokensForAnotherAudienceOrSignedByAnotherKeyAreRefused(t *testing.T) {
	cluster, idp := newRSA(t, "cluster-1"), newRSA(t, "idp-1")
	a := saAuth(t, true, cluster, idp)
	for what, token := range map[string]string{
		"the apiserver's audience": projected(t, cluster, "agents", "planner", "https://kubernetes.default.svc"),
		"another key, same kid":    projected(t, newRSA(t, "cluster-1"), "agents", "planner", testAudience),
		"the IdP's key":            projected(t, idp, "agents", "planner", testAudience),
	} {
		if code, h := status(t, a, token); code != http.StatusUnauthorized || !strings.Contains(h.Get("WWW-Authenticate"), "invalid_token") {
			t.Errorf("%s: %d %q", what, code, h.Get("WWW-Authenticate"))
		}
	}
}

func TestTheIdPsTokensStillNeedTheirScopeBesideServiceAccounts(t *testing.T) {
	cluster, idp := newRSA(t, "cluster-1"), newRSA(t, "idp-1")
	a := saAuth(t, true, cluster, idp)
	now := time.Now()
	if code, _ := status(t, a, idp.sign(t, good(now))); code != http.StatusOK {
		t.Fatalf("the IdP's token: %d", code)
	}
	if code, _ := status(t, a, idp.sign(t, with(good(now), "scope", "openid"))); code != http.StatusForbidden {
		t.Fatalf("the IdP's token without the scope: %d", code)
	}
	// a cluster-signed token claiming the IdP's issuer goes to the IdP's validator, whose keys refuse it
	if code, _ := status(t, a, cluster.sign(t, good(now))); code != http.StatusUnauthorized {
		t.Fatalf("a cluster key signing as the IdP: %d", code)
	}
}

func TestWithoutAnIdPTheMetadataNamesNoAuthorizationServer(t *testing.T) {
	a := saAuth(t, false, newRSA(t, "cluster-1"), newRSA(t, "idp-1"))
	rec := httptest.NewRecorder()
	a.metadata(rec, httptest.NewRequest(http.MethodGet, "http://files:8000/.well-known/oauth-protected-resource/mcp", nil))
	if got := rec.Body.String(); !strings.Contains(got, `"authorization_servers":[]`) || !strings.Contains(got, `"resource":"`+testAudience) {
		t.Fatalf("metadata: %s", got)
	}
}

func TestServiceAccountFlagsAreCheckedAtStart(t *testing.T) {
	a, _ := newAuth(testIssuer, nil, nil, "", testAudience, "/mcp")
	if err := a.acceptServiceAccounts(testIssuer, "", "f", []string{"x"}); err == nil {
		t.Error("the same issuer twice was taken")
	}
	if err := a.acceptServiceAccounts(clusterIssuer, "", "", []string{"x"}); err == nil {
		t.Error("no JWKS file was taken")
	}
	if err := a.acceptServiceAccounts(clusterIssuer, "", "f", nil); err == nil {
		t.Error("no subjects were taken")
	}
	if err := a.acceptServiceAccounts("http://kubernetes.default.svc", "", "f", []string{"x"}); err == nil {
		t.Error("an http issuer was taken")
	}
}
