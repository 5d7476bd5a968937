# hash.py — the HASH attack of docs/security.md, run by run.sh (ATTACK-ARGS
# "hash"): upload a 1280 MiB file, then time what HASH, the X commands,
# ABOR and QUIT get. Loopback only; every wait has a timeout.
import socket, re, sys, time
addr = ('127.0.0.1', int(sys.argv[1]) if len(sys.argv) > 1 else 47121)
SIZE = 1280 << 20

def conn():
    c = socket.create_connection(addr, timeout=120); f = c.makefile('rb'); rd(f); return c, f

def rd(f):
    out = b''
    while True:
        l = f.readline()
        if not l: return out + b'<EOF>'
        out += l
        if len(l) >= 4 and l[3:4] == b' ': return out

def cmd(c, f, s):
    c.sendall(s + b'\r\n'); return rd(f)

def login():
    c, f = conn(); cmd(c, f, b'USER demo'); cmd(c, f, b'PASS demo'); cmd(c, f, b'TYPE I'); return c, f

c, f = login()
r = cmd(c, f, b'EPSV'); port = int(re.search(rb'\|\|\|(\d+)\|', r).group(1))
c.sendall(b'STOR big.bin\r\n')
d = socket.create_connection(('127.0.0.1', port), timeout=30); rd(f)
block = bytes(range(256)) * 4096  # 1 MiB
t = time.time()
for _ in range(SIZE // len(block)): d.sendall(block)
d.close(); print('STOR 1280 MiB ->', rd(f).strip().decode(), '%.1f s' % (time.time() - t))

def timed(c, f, line):
    t = time.time(); r = cmd(c, f, line)
    print('%-28s -> %-60s %.2f s' % (line.decode(), r.strip().decode()[:60], time.time() - t))

timed(c, f, b'XCRC big.bin')
timed(c, f, b'HASH big.bin')
cmd(c, f, b'OPTS HASH MD5')
timed(c, f, b'HASH big.bin')
timed(c, f, b'XMD5 big.bin 0 1073741824')

for stop in [b'ABOR', b'QUIT']:
    c, f = login()
    c.sendall(b'XMD5 big.bin 0 1073741824\r\n'); time.sleep(0.3)
    t = time.time(); c.sendall(stop + b'\r\n')
    first = rd(f); t1 = time.time() - t
    second = rd(f); t2 = time.time() - t
    print('%s 0.3 s into XMD5 of 1 GiB -> %s after %.2f s, then %s after %.2f s' % (
        stop.decode(), first.strip().decode()[:40], t1, second.strip().decode()[:40], t2))
    c.close()
