package ftp

import (
	"fmt"
	"sort"
	"strings"

	"github.com/s3ftpd/s3ftpd/internal/ftp/wire"
)

func (s *session) cmdNOOP(string) { s.reply(200, "NOOP ok.") }

// SYST: clients parse "UNIX Type: L8" to expect ls-style LIST output.
func (s *session) cmdSYST(string) { s.reply(215, "UNIX Type: L8") }

// FEAT lists the extensions we implement (RFC 2389 §3), one per line,
// each line starting with a space.
func (s *session) cmdFEAT(string) {
	feats := []string{
		"EPRT",                             // RFC 2428
		"EPSV",                             // RFC 2428
		"MDTM",                             // RFC 3659 §3
		"MLST " + mlstFeature(s.mlstFacts), // RFC 3659 §7.8
		"REST STREAM",                      // RFC 3659 §5
		"SIZE",                             // RFC 3659 §4
		"TVFS",                             // RFC 3659 §6: "/"-separated paths
		"UTF8",                             // RFC 2640
	}
	if s.srv.TLSConfig != nil {
		feats = append(feats, "AUTH TLS", "PBSZ", "PROT") // RFC 4217 §6
	}
	// Storage-dependent extensions: before login we cannot know the
	// account's storage and list them (s3fs has all of them); after login
	// only what this account's storage implements.
	if _, ok := s.acct.fsOrNil().(Hasher); ok || s.acct == nil {
		feats = append(feats, s.hashFeature(), "XCRC", "XMD5", "XSHA1", "XSHA256") // draft-bryan-ftp-hash
	}
	if _, ok := s.acct.fsOrNil().(ModTimeSetter); ok || s.acct == nil {
		feats = append(feats, "MFMT") // draft-somers-ftp-mfxx
	}
	s.reply(211, "Features:\n"+strings.Join(feats, "\n")+"\nEnd")
}

// OPTS (RFC 2389 §4): UTF8 ON (RFC 2640 is on anyway: names are bytes we
// pass through) and MLST fact selection (RFC 3659 §7.9).
func (s *session) cmdOPTS(arg string) {
	name, value, _ := strings.Cut(arg, " ")
	switch strings.ToUpper(name) {
	case "UTF8", "UTF-8":
		switch strings.ToUpper(strings.TrimSpace(value)) {
		case "ON", "":
			s.utf8 = true
			s.reply(200, "Always in UTF8 mode.")
		default:
			s.reply(501, "Only UTF8 ON is supported.")
		}
	case "HASH":
		s.optsHash(value)
	case "MLST":
		facts := wire.ParseFacts(value, allFacts)
		s.mlstFacts = facts
		s.reply(200, "MLST OPTS "+strings.Join(facts, ";")+suffix(len(facts) > 0, ";"))
	default:
		s.reply(501, "Option not understood.")
	}
}

func suffix(ok bool, s string) string {
	if ok {
		return s
	}
	return ""
}

// HELP lists the verbs of the command table (RFC 959 §4.1.3).
func (s *session) cmdHELP(string) {
	verbs := make([]string, 0, len(s.srv.cmds))
	for v := range s.srv.cmds {
		verbs = append(verbs, v)
	}
	sort.Strings(verbs)
	var b strings.Builder
	b.WriteString("The following commands are recognized:\n")
	for i := 0; i < len(verbs); i += 8 {
		b.WriteString(strings.Join(verbs[i:min(i+8, len(verbs))], " ") + "\n")
	}
	b.WriteString("Help OK.")
	s.reply(214, b.String())
}

// STAT without an argument reports the session (RFC 959 §4.1.3); with one it
// lists a path over the control connection (cmd_list.go).
func (s *session) cmdSTAT(arg string) {
	if arg != "" {
		s.statPath(arg)
		return
	}
	mode := "ASCII"
	if s.binary {
		mode = "BINARY"
	}
	data := "none"
	switch {
	case s.pasv != nil:
		data = fmt.Sprintf("passive, port %d", s.pasv.Port())
	case s.active.IsValid():
		data = "active, to " + s.active.String()
	}
	s.reply(211, fmt.Sprintf("s3ftpd status:\nConnected from %s\nLogged in as %s\nTYPE: %s, STRU: File, MODE: Stream\nData connection: %s\nEnd of status", s.client, s.acct.Name, mode, data))
}

// TYPE: A and I are accepted; bytes are stored and served unchanged in both
// (no CRLF conversion), which is what S3 users expect of an object.
func (s *session) cmdTYPE(arg string) {
	switch strings.ToUpper(strings.Join(strings.Fields(arg), " ")) {
	case "A", "A N":
		s.binary = false
		s.reply(200, "Switching to ASCII mode (data is transferred unchanged).")
	case "I", "L 8":
		s.binary = true
		s.reply(200, "Switching to Binary mode.")
	default:
		s.reply(504, "Unsupported TYPE; use A or I.")
	}
}

func (s *session) cmdMODE(arg string) {
	if strings.EqualFold(arg, "S") {
		s.reply(200, "Mode set to S.")
		return
	}
	s.reply(504, "Only MODE S is supported.")
}

func (s *session) cmdSTRU(arg string) {
	if strings.EqualFold(arg, "F") {
		s.reply(200, "Structure set to F.")
		return
	}
	s.reply(504, "Only STRU F is supported.")
}

// ALLO is not needed: S3 allocates nothing ahead (RFC 959: 202).
func (s *session) cmdALLO(string) { s.reply(202, "ALLO not needed; ignored.") }
