package aws

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/failoverbot/failoverbot/internal/steps"
	"github.com/failoverbot/failoverbot/internal/steps/aws/awstest"
	"github.com/failoverbot/failoverbot/internal/steps/stepstest"
)

// buildAll builds the kinds from one registry, as one process does (they
// share sessions).
func buildAll(t *testing.T, c *steps.Connection, kinds map[string]steps.Config) map[string]steps.Probe {
	t.Helper()
	r := steps.NewRegistry()
	if err := register(r); err != nil {
		t.Fatal(err)
	}
	out := map[string]steps.Probe{}
	for name, cfg := range kinds {
		k, _ := r.Kind(name)
		if err := cfg.CheckAndSetDefaults(); err != nil {
			t.Fatal(err)
		}
		p, err := k.Build(context.Background(), cfg, steps.Env{Conn: c})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out[name] = p
	}
	return out
}

func TestCallerIdentityReportsTheAccountAndIsAskedOncePerConnection(t *testing.T) {
	l := newLab(t, awstest.Options{})
	c := l.conn(west)
	c.Fields["accountId"] = l.AccountID()
	ps := buildAll(t, c, map[string]steps.Config{
		"aws.sts.callerIdentity":     &CallerIdentityConfig{},
		"aws.rds.promoteReadReplica": &PromoteReadReplicaConfig{DBInstanceIdentifier: awstest.MAIPDRReplica},
	})
	res := stepstest.Check(t, ps["aws.sts.callerIdentity"])
	if !res.Done || res.Outputs["account"] != l.AccountID() || res.Outputs["arn"] != "arn:aws:iam::"+l.AccountID()+":user/test" ||
		res.Outputs["credentials"] != "keys of the connection" || !strings.Contains(res.Summary, "as its accountId pins") {
		t.Errorf("identity: %+v", res)
	}
	stepstest.Check(t, ps["aws.rds.promoteReadReplica"])
	stepstest.Check(t, ps["aws.rds.promoteReadReplica"])
	if n := l.Calls("sts:GetCallerIdentity"); n != 1 {
		t.Errorf("%d identity calls, want 1 per connection per process", n)
	}
	stepstest.NoSecret(t, l.secret(), res, nil)
}

func TestAPinnedAccountThatDiffersStopsEveryKindBeforeAnyChange(t *testing.T) {
	l := newLab(t, awstest.Options{})
	c := l.conn(west)
	c.Fields["accountId"] = "210987654321"
	s := stepstest.BuildStep(t, register, "aws.rds.promoteReadReplica", &PromoteReadReplicaConfig{DBInstanceIdentifier: awstest.MAIPDRReplica}, c)
	_, err := check(t, s)
	wantPermanent(t, err, "acts as arn:aws:iam::123456789012:user/test in account 123456789012, but its accountId pins 210987654321")
	err = apply(t, s)
	wantPermanent(t, err, "refusing to act in the wrong account")
	if n := l.Calls("rds:*"); n != 0 {
		t.Errorf("%d RDS calls, want none", n)
	}
	_, err = check(t, stepstest.Build(t, register, "aws.sts.callerIdentity", &CallerIdentityConfig{}, c))
	wantPermanent(t, err, "pins 210987654321")
}

func TestAssumedRole(t *testing.T) {
	l := newLab(t, awstest.Options{})
	c := l.conn(west)
	c.Fields["roleArn"] = "arn:aws:iam::" + l.AccountID() + ":role/failover-bot"
	c.Fields["externalId"] = "ext-42"
	ps := buildAll(t, c, map[string]steps.Config{
		"aws.sts.callerIdentity": &CallerIdentityConfig{},
		"aws.rds.instanceStatus": &InstanceStatusConfig{DBInstanceIdentifier: awstest.MAIPDRReplica},
	})
	res := stepstest.Check(t, ps["aws.sts.callerIdentity"])
	if want := "arn:aws:sts::" + l.AccountID() + ":assumed-role/failover-bot/" + RoleSessionName; res.Outputs["arn"] != want ||
		!strings.HasSuffix(res.Outputs["credentials"], "then role "+c.Fields["roleArn"]) {
		t.Errorf("identity %+v, want %s", res, want)
	}
	if res := stepstest.Check(t, ps["aws.rds.instanceStatus"]); !res.Done {
		t.Errorf("with the role: %+v", res)
	}
	if n := l.Calls("sts:AssumeRole"); n != 1 {
		t.Errorf("%d AssumeRole calls, want 1 (credentials cached)", n)
	}
	// A role of another account is refused by STS: permanent.
	other := l.conn(west)
	other.Fields["roleArn"] = "arn:aws:iam::210987654321:role/failover-bot"
	_, err := check(t, stepstest.Build(t, register, "aws.rds.instanceStatus", &InstanceStatusConfig{DBInstanceIdentifier: awstest.MAIPDRReplica}, other))
	wantPermanent(t, err, "AccessDenied")
	stepstest.NoSecret(t, l.secret(), steps.Result{}, err)
}

func TestRefusedCredentialsArePermanentAndNeverShown(t *testing.T) {
	l := newLab(t, awstest.Options{})
	c := l.conn(west)
	const key, token = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRETKEY", "FwoGZXIvYXdzEXAMPLESESSIONTOKEN0123456789"
	c.Fields["accessKeyId"], c.Fields["secretAccessKey"], c.Fields["sessionToken"] = "AKIANOTREGISTERED000", key, token
	res, err := check(t, stepstest.Build(t, register, "aws.rds.instanceStatus", &InstanceStatusConfig{DBInstanceIdentifier: awstest.MAIPDRReplica}, c))
	wantPermanent(t, err, "the credentials were refused (InvalidClientTokenId; from keys of the connection)")
	stepstest.NoSecret(t, key, res, err)
	stepstest.NoSecret(t, token, res, err)
}

// isolate points the SDK's shared files and environment at a test's own.
func isolate(t *testing.T) string {
	dir := t.TempDir()
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
		"AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_REGION", "AWS_ENDPOINT_URL"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	return dir
}

// The connection type's Check, as preflight calls it: no network call.
func TestConnectionCheckFindsUnusableCredentialsWithoutTheNetwork(t *testing.T) {
	l := newLab(t, awstest.Options{})
	dir := isolate(t)
	cred := l.Credentials()
	if err := os.WriteFile(filepath.Join(dir, "credentials"), []byte("[maip]\naws_access_key_id = "+cred.AccessKeyID+"\naws_secret_access_key = "+cred.SecretAccessKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	conn := func(fields map[string]string) *steps.Connection {
		f := map[string]string{"region": west, "endpoint": l.URL()}
		for k, v := range fields {
			f[k] = v
		}
		return &steps.Connection{Name: "dr_aws", Type: "aws", Fields: f}
	}
	for _, tc := range []struct {
		name   string
		fields map[string]string
		env    map[string]string
		want   string // "" for no error
	}{
		{name: "connection keys", fields: map[string]string{"accessKeyId": cred.AccessKeyID, "secretAccessKey": cred.SecretAccessKey}},
		{name: "a profile of the shared credentials file", fields: map[string]string{"profile": "maip"}},
		{name: "the environment", env: map[string]string{"AWS_ACCESS_KEY_ID": cred.AccessKeyID, "AWS_SECRET_ACCESS_KEY": cred.SecretAccessKey}},
		{name: "a profile that does not exist", fields: map[string]string{"profile": "maip-prod-dr"}, want: "maip-prod-dr"},
		{name: "no credentials at all", want: "no AWS credentials found"},
		{name: "a web identity token file that is not there", env: map[string]string{"AWS_WEB_IDENTITY_TOKEN_FILE": filepath.Join(dir, "token"), "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/bot"},
			want: "the web identity token file " + filepath.Join(dir, "token") + " cannot be read"},
		{name: "half a key", fields: map[string]string{"accessKeyId": cred.AccessKeyID}, want: "accessKeyId and secretAccessKey go together"},
		{name: "no region", fields: map[string]string{"region": ""}, want: "no region"},
		{name: "a bad role, account and endpoint", fields: map[string]string{"roleArn": "role/bot", "accountId": "12", "endpoint": "ftp://x"},
			want: "accountId \"12\" is not a 12-digit AWS account id; endpoint is not an http:// or https:// URL (value not shown); roleArn \"role/bot\" is not an IAM role ARN"},
		{name: "a role on connection keys", fields: map[string]string{"accessKeyId": cred.AccessKeyID, "secretAccessKey": cred.SecretAccessKey, "roleArn": "arn:aws:iam::123456789012:role/bot"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			before := l.Calls("*")
			err := ConnectionType.Check(context.Background(), conn(tc.fields))
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Check = %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("Check = %v, want an error with %q", err, tc.want)
			case tc.want != "" && !steps.IsPermanent(err):
				t.Errorf("Check = %v, want permanent", err)
			}
			if err != nil && strings.Contains(err.Error(), cred.SecretAccessKey) {
				t.Errorf("the error shows the secret: %v", err)
			}
			if n := l.Calls("*") - before; n != 0 {
				t.Errorf("Check made %d calls, want none", n)
			}
		})
	}
	// The profile works for real calls too.
	p := stepstest.Build(t, register, "aws.sts.callerIdentity", &CallerIdentityConfig{}, conn(map[string]string{"profile": "maip"}))
	if res := stepstest.Check(t, p); !strings.Contains(res.Outputs["credentials"], "profile maip") {
		t.Errorf("with the profile: %+v", res)
	}
}
