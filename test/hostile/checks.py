import socket, sys, re, time
addr=('127.0.0.1',47121)
s3port=int(sys.argv[1])
def conn():
    c=socket.create_connection(addr, timeout=10); f=c.makefile('rb'); return c,f
def rd(f):
    out=b''
    while True:
        l=f.readline()
        if not l: return out+b'<EOF>'
        out+=l
        if len(l)>=4 and l[3:4]==b' ': return out
def cmd(c,f,s):
    c.sendall(s+b'\r\n'); return rd(f)
# PROXY v2 from an untrusted address
c,f=conn(); rd(f)
c.sendall(b"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c\x0a\x00\x00\x01\x7f\x00\x00\x01\x04\xd2\x00\x15")
time.sleep(0.5); c.settimeout(2)
try: got=c.recv(4096)
except Exception as e: got=repr(e).encode()
print("proxy v2 untrusted ->", got)
# names
c,f=conn(); rd(f); cmd(c,f,b'USER demo'); cmd(c,f,b'PASS demo')
for name in [b'a\rb', b'bad\xfe', b'x\x7fy']:
    r=cmd(c,f,b'EPSV'); m=re.search(rb'\|\|\|(\d+)\|',r)
    if not m: print('EPSV', r); continue
    c.sendall(b'STOR '+name+b'\r\n')
    d=socket.create_connection(('127.0.0.1',int(m.group(1))),timeout=5)
    r=rd(f)
    if r.startswith(b'150'):
        d.sendall(b'data'); d.close(); r=r+rd(f)
    else:
        d.close()
    print('STOR', name, '->', r.strip())
r=cmd(c,f,b'EPSV'); m=re.search(rb'\|\|\|(\d+)\|',r)
c.sendall(b'LIST\r\n'); d=socket.create_connection(('127.0.0.1',int(m.group(1))),timeout=5); r=rd(f)
lst=b''
while True:
    b=d.recv(4096)
    if not b: break
    lst+=b
rd(f); print('LIST ->', lst)
# active mode into the embedded S3 port
r=cmd(c,f,b'EPRT |1|127.0.0.1|%d|'%s3port); print('EPRT to the embedded S3 port ->', r.strip())
if r.startswith(b'200'):
    print('LIST over it ->', cmd(c,f,b'LIST').strip(), rd(f).strip())
