package passhash

import "testing"

// Hashes of "secret" made by the real tools (so the formats are theirs):
// `openssl passwd -6|-5|-1 -salt saltsalt secret` (glibc crypt, as in
// /etc/shadow, pureftpd.passwd, proftpd AuthUserFile) and the argon2
// reference CLI `echo -n secret | argon2 somesaltsomesalt -id -t 3 -m 16 -p 4 -e`.
var foreign = map[string]string{
	"sha512":   "$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1",
	"sha256":   "$5$saltsalt$0IyaXrmV7.sGNS6tirgqHLqX/G.FBvgkYA.lpPdS5sA",
	"md5":      "$1$saltsalt$9xy1btjgzLYfb7hivXtC//",
	"argon2id": "$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHRzb21lc2FsdA$cFQZCD+zSb/9427/GV32Oo32vYCyES18RyM6V/Spq3Y",
}

func TestForeignHashes(t *testing.T) {
	for name, h := range foreign {
		if err := Check(h); err != nil {
			t.Errorf("%s: Check: %v", name, err)
		}
		if Verify(h, "wrong") {
			t.Errorf("%s: a wrong password matched", name)
		}
		if !Verify(h, "secret") {
			t.Errorf("%s: the right password does not match", name)
		}
	}
}

func TestHashAndVerify(t *testing.T) {
	for _, algo := range []string{Bcrypt, Argon2id} {
		h, err := Hash(algo, "pässword")
		if err != nil {
			t.Fatal(err)
		}
		if err := Check(h); err != nil || !Verify(h, "pässword") || Verify(h, "password") {
			t.Errorf("%s: %q check %v", algo, h, err)
		}
	}
	for _, bad := range []string{"", "plain", "$argon2id$v=19$m=1,t=0,p=1$x$y", "$2a$nope"} {
		if Check(bad) == nil {
			t.Errorf("Check(%q) accepted", bad)
		}
		if Verify(bad, "") {
			t.Errorf("Verify(%q) matched", bad)
		}
	}
}
