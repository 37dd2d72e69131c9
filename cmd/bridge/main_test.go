package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func runCLI(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestVersion(t *testing.T) {
	code, out, _ := runCLI("version")
	if code != 0 || !strings.HasPrefix(out, "accountbridge ") {
		t.Errorf("code %d, out %q", code, out)
	}
}

func TestUnknownCommand(t *testing.T) {
	if code, _, errOut := runCLI("frobnicate"); code != exitConfig || !strings.Contains(errOut, `unknown command "frobnicate"`) {
		t.Errorf("code %d, stderr %q", code, errOut)
	}
}

func TestCheckReportsMisspelledKeyWithLine(t *testing.T) {
	path := writeConfig(t, "mqtt:\n  broker: tcp://127.0.0.1:1883\n  pasword: x\nlog:\n  level: chatty\n")
	code, out, errOut := runCLI("check", "-c", path)
	if code != exitConfig {
		t.Errorf("exit code = %d, want %d", code, exitConfig)
	}
	for _, want := range []string{
		path + `:3: mqtt.pasword: unknown key (did you mean "password"?)`,
		path + `:5: log.level: expected one of`,
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if out != "" {
		t.Errorf("nothing should be printed on stdout for an invalid config, got %q", out)
	}
}

func TestCheckPrintsMaskedConfig(t *testing.T) {
	t.Setenv("AB_TEST_MQTT_PASSWORD", "s3cret-mqtt-pass")
	path := writeConfig(t, "mqtt:\n  username: me\n  password: ${AB_TEST_MQTT_PASSWORD}\nstore:\n  path: "+filepath.Join(t.TempDir(), "x.db")+"\n")
	code, out, errOut := runCLI("check", "-c", path)
	if code != exitOK {
		t.Fatalf("exit code %d: %s", code, errOut)
	}
	if strings.Contains(out, "s3cret-mqtt-pass") || !strings.Contains(out, "password: '***'") && !strings.Contains(out, `password: "***"`) {
		t.Errorf("password not masked:\n%s", out)
	}
	if !strings.Contains(errOut, "config OK") {
		t.Errorf("stderr = %q", errOut)
	}
}

func TestCheckUnknownProvider(t *testing.T) {
	path := writeConfig(t, "accounts:\n  - id: main\n    provider: nosuch\n")
	code, _, errOut := runCLI("check", "-c", path)
	if code != exitConfig || !strings.Contains(errOut, ":3: accounts[0].provider: unknown provider") {
		t.Errorf("code %d, stderr %q", code, errOut)
	}
}

func TestOnceWithoutAccounts(t *testing.T) {
	path := writeConfig(t, "store:\n  path: "+filepath.Join(t.TempDir(), "x.db")+"\n")
	code, out, errOut := runCLI("once", "-c", path)
	if code != exitOK || out != "" || !strings.Contains(errOut, "no enabled accounts") {
		t.Errorf("code %d, out %q, err %q", code, out, errOut)
	}
}

func TestHealthWithoutDaemon(t *testing.T) {
	path := writeConfig(t, "store:\n  path: "+filepath.Join(t.TempDir(), "x.db")+"\n")
	code, _, errOut := runCLI("health", "-c", path)
	if code != exitFailure || !strings.Contains(errOut, "no health file") {
		t.Errorf("code %d, err %q", code, errOut)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDemoRejectsBadArguments(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"demo", "--fakes-only", "--accounts", "-1"}, "--accounts -1"},
		{[]string{"demo", "--fakes-only", "extra"}, `unexpected argument "extra"`},
	} {
		code, _, errOut := runCLI(tc.args...)
		if code != exitConfig || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: code %d, stderr %q; want %d and %q", tc.args, code, errOut, exitConfig, tc.want)
		}
	}
}
