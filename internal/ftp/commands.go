package ftp

// command is one row of the command table: its handler and the checks the
// dispatcher makes before calling it.
type command struct {
	run   func(s *session, arg string) (quit bool)
	login bool // needs a logged-in user (else 530)
	arg   bool // needs an argument (else 501)
	write bool // changes storage (read-only accounts get 550)
	// name: the argument is (or holds) a path name, checked by validName
	// (else 553).
	name bool
	// conn: the handler reads the control connection itself (the TLS
	// handshake of AUTH), so it is not watched while it runs.
	conn bool
}

// commandTable lists every verb we implement (RFC 959 §4.1, RFC 2389,
// RFC 2428, RFC 3659, RFC 775 X-aliases). FEAT and HELP are derived from
// what is here, so they never claim more than exists.
func commandTable() map[string]command {
	h := func(f func(*session, string)) func(*session, string) bool {
		return func(s *session, a string) bool { f(s, a); return false }
	}
	t := map[string]command{
		// Access control (cmd_auth.go).
		"USER": {run: h((*session).cmdUSER), arg: true},
		"PASS": {run: h((*session).cmdPASS)},
		"QUIT": {run: (*session).cmdQUIT},
		"REIN": {run: h((*session).cmdREIN)},
		// Service and parameters (cmd_misc.go).
		"NOOP": {run: h((*session).cmdNOOP)},
		"SYST": {run: h((*session).cmdSYST)},
		"FEAT": {run: h((*session).cmdFEAT)},
		"OPTS": {run: h((*session).cmdOPTS), arg: true},
		"HELP": {run: h((*session).cmdHELP)},
		"STAT": {run: h((*session).cmdSTAT), login: true, name: true}, // STAT name: a listing (RFC 959 §4.1.3)
		"TYPE": {run: h((*session).cmdTYPE), login: true, arg: true},
		"MODE": {run: h((*session).cmdMODE), login: true, arg: true},
		"STRU": {run: h((*session).cmdSTRU), login: true, arg: true},
		"ALLO": {run: h((*session).cmdALLO), login: true},
		// Directories and files (cmd_dir.go).
		"PWD":  {run: h((*session).cmdPWD), login: true},
		"CWD":  {run: h((*session).cmdCWD), login: true, name: true},
		"CDUP": {run: h((*session).cmdCDUP), login: true},
		"MKD":  {run: h((*session).cmdMKD), login: true, arg: true, write: true, name: true},
		"RMD":  {run: h((*session).cmdRMD), login: true, arg: true, write: true, name: true},
		"DELE": {run: h((*session).cmdDELE), login: true, arg: true, write: true, name: true},
		"RNFR": {run: h((*session).cmdRNFR), login: true, arg: true, write: true, name: true},
		"RNTO": {run: h((*session).cmdRNTO), login: true, arg: true, write: true, name: true},
		"SIZE": {run: h((*session).cmdSIZE), login: true, arg: true, name: true},
		"MDTM": {run: h((*session).cmdMDTM), login: true, arg: true, name: true},
		"MLST": {run: h((*session).cmdMLST), login: true, name: true},
		// Listings (cmd_list.go).
		"LIST": {run: h((*session).cmdLIST), login: true, name: true},
		"NLST": {run: h((*session).cmdNLST), login: true, name: true},
		"MLSD": {run: h((*session).cmdMLSD), login: true, name: true},
		// Transfers (cmd_transfer.go).
		"RETR": {run: h((*session).cmdRETR), login: true, arg: true, name: true},
		"STOR": {run: h((*session).cmdSTOR), login: true, arg: true, write: true, name: true},
		"STOU": {run: h((*session).cmdSTOU), login: true, write: true, name: true},
		"REST": {run: h((*session).cmdREST), login: true, arg: true},
		"APPE": {run: h((*session).cmdAPPE), login: true, arg: true, write: true, name: true},
		// Checksums and times (cmd_hash.go).
		"HASH":    {run: h((*session).cmdHASH), login: true, arg: true, name: true},
		"XCRC":    {run: h(xhash(HashCRC32)), login: true, arg: true, name: true},
		"XMD5":    {run: h(xhash(HashMD5)), login: true, arg: true, name: true},
		"XSHA1":   {run: h(xhash(HashSHA1)), login: true, arg: true, name: true},
		"XSHA256": {run: h(xhash(HashSHA256)), login: true, arg: true, name: true},
		"MFMT":    {run: h((*session).cmdMFMT), login: true, arg: true, write: true, name: true},
		"ABOR":    {run: h((*session).cmdABOR), login: true},
		// Security (tls.go, RFC 4217).
		"AUTH": {run: h((*session).cmdAUTH), arg: true, conn: true},
		"PBSZ": {run: h((*session).cmdPBSZ), arg: true},
		"PROT": {run: h((*session).cmdPROT), arg: true},
		"CCC":  {run: h((*session).cmdCCC)},
		// Data connections (cmd_data.go).
		"PASV": {run: h((*session).cmdPASV), login: true},
		"EPSV": {run: h((*session).cmdEPSV), login: true},
		"PORT": {run: h((*session).cmdPORT), login: true, arg: true},
		"EPRT": {run: h((*session).cmdEPRT), login: true, arg: true},
	}
	// RFC 775 aliases, still sent by some clients.
	for alias, verb := range map[string]string{"XPWD": "PWD", "XCWD": "CWD", "XCUP": "CDUP", "XMKD": "MKD", "XRMD": "RMD"} {
		t[alias] = t[verb]
	}
	return t
}
