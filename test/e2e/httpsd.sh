#!/usr/bin/env bash
# HTTPS test servers for the download suite, on loopback only:
#   httpsd.sh start ROOT WORK PORT [--s3]  serve ROOT; everything the servers need lives in WORK
#   httpsd.sh stop WORK               stop them and remove WORK
# On https://127.0.0.1:PORT, Debian's nginx (not a daemon, its own config, pid and logs)
# serves ROOT with Range and ETags, plus:
#   /redirect1 -> /redirect2 -> /redir/<name> (a chain)      /loop (an endless redirect)
#   /downgrade -> http://127.0.0.1:PORT+1/img (https to http)  /error500, /error404 (statuses)
#   /tofile, /togopher, /toftp (to other schemes)   /pingpong1 <-> /pingpong2 (a loop)
#   /tonothing -> https://127.0.0.1:PORT+3/img (a port where nothing listens)
# On https://127.0.0.1:PORT+1, a small Python server serves ROOT too, but the first request
# of each file gets the full Content-Length and only half the body before the connection is
# closed: /cut/<name> honours Range on the retry, /norange/<name> always sends the whole file,
# /alwayscut/<name> cuts every response and ignores Range.
# It logs "PATH RANGE STATUS" per request in WORK/cut.log.
# With --s3, S3 too: a real Ceph cluster with its RADOS Gateway (test/ceph/cluster.sh start WORK/ceph --rgw;
# ports from CEPH_PORT or TESTHOSTS_PORT), which verifies SigV4 signatures. WORK/ceph/rgw.env
# holds RGW_ENDPOINT= (plain http, the gateway itself), RGW_ACCESS_KEY=, RGW_SECRET_KEY=; the
# bucket "bkt" exists. On https://127.0.0.1:PORT+2, nginx passes every request unchanged
# (Host, URI) to the gateway: S3 over https with the CA below.
# The CA is WORK/ca.pem; WORK/other-ca.pem is a CA that signed nothing here.
set -euo pipefail
# shellcheck source=test/hosts/pids.sh
source "$(dirname "$0")/../hosts/pids.sh"

cmd=${1:-}
case "$cmd" in
start)
    root=$(cd "$2" && pwd); work=$3; port=$4; cport=$((port + 1)); s3=
    [ "${5:-}" = --s3 ] && s3=1
    mkdir -p "$work/tmp"
    work=$(cd "$work" && pwd)
    # The CA, a server certificate for 127.0.0.1/localhost, and a stranger CA.
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=onestor test CA" \
        -keyout "$work/ca.key" -out "$work/ca.pem" 2>/dev/null
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=other CA" \
        -keyout "$work/other-ca.key" -out "$work/other-ca.pem" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$work/server.key" \
        -out "$work/server.csr" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' > "$work/san.ext"
    openssl x509 -req -in "$work/server.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial \
        -days 2 -extfile "$work/san.ext" -out "$work/server.pem" 2>/dev/null
    s3server=
    if [ -n "$s3" ]; then
        # The gateway first: nginx's proxy needs its port.
        "$(dirname "$0")/../ceph/cluster.sh" start "$work/ceph" --rgw || { rm -rf -- "$work"; exit 1; }
        # shellcheck source=/dev/null
        source "$work/ceph/rgw.env"
        s3server="server {
        listen 127.0.0.1:$((port + 2)) ssl;
        ssl_certificate $work/server.pem;
        ssl_certificate_key $work/server.key;
        client_max_body_size 0;
        location / {
            proxy_pass $RGW_ENDPOINT;
            proxy_set_header Host \$http_host;
            proxy_http_version 1.1;
            proxy_request_buffering off;
            proxy_buffering off;
        }
    }"
    fi
    cat > "$work/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 1;
user root root;
pid $work/nginx.pid;
error_log $work/error.log;
events { worker_connections 64; }
http {
    log_format t '\$request_uri "\$http_range" \$status \$body_bytes_sent';
    access_log $work/access.log t;
    client_body_temp_path $work/tmp/body;
    proxy_temp_path $work/tmp/proxy;
    fastcgi_temp_path $work/tmp/fastcgi;
    uwsgi_temp_path $work/tmp/uwsgi;
    scgi_temp_path $work/tmp/scgi;
    default_type application/octet-stream;
    server {
        listen 127.0.0.1:$port ssl;
        ssl_certificate $work/server.pem;
        ssl_certificate_key $work/server.key;
        root $root;
        location = /redirect1 { return 302 /redirect2; }
        location = /redirect2 { return 302 /redir/img.gz; }
        location /redir/ { rewrite ^/redir/(.*)\$ /\$1 redirect; }
        location = /loop { return 302 /loop; }
        location = /downgrade { return 302 http://127.0.0.1:$cport/img; }
        location = /error500 { return 500; }
        location = /error404 { return 404; }
        location = /tofile { return 302 file:///etc/passwd; }
        location = /togopher { return 302 gopher://127.0.0.1:$((port + 3))/x; }
        location = /toftp { return 302 ftp://127.0.0.1:$((port + 3))/x; }
        location = /pingpong1 { return 302 /pingpong2; }
        location = /pingpong2 { return 302 /pingpong1; }
        location = /tonothing { return 302 https://127.0.0.1:$((port + 3))/img; }
    }
    $s3server
}
EOF
    cat > "$work/cut.py" <<'EOF'
import http.server, os, re, ssl, sys
root, port, work = sys.argv[1], int(sys.argv[2]), sys.argv[3]
seen = set()
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_GET(self):
        m = re.match(r"^/(cut|norange|alwayscut)/([A-Za-z0-9._-]+)$", self.path)
        rng = self.headers.get("Range", "")
        def log(status):
            with open(os.path.join(work, "cut.log"), "a") as f:
                f.write("%s %s %d\n" % (self.path, rng or "-", status))
        if not m or not os.path.isfile(os.path.join(root, m.group(2))):
            log(404); self.send_response(404); self.send_header("Content-Length", "0"); self.end_headers(); return
        data = open(os.path.join(root, m.group(2)), "rb").read()
        first = self.path not in seen or m.group(1) == "alwayscut"
        seen.add(self.path)
        r = re.match(r"^bytes=(\d+)-$", rng)
        if m.group(1) == "cut" and r and not first:
            start = int(r.group(1))
            body = data[start:]
            self.send_response(206)
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, len(data) - 1, len(data)))
            log(206)
        else:
            body = data
            self.send_response(200)
            log(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body[: len(body) // 2] if first else body)
        self.wfile.flush()
        self.close_connection = True
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(os.path.join(work, "server.pem"), os.path.join(work, "server.key"))
srv = http.server.HTTPServer(("127.0.0.1", port), H)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
open(os.path.join(work, "cut.ready"), "w").close()
srv.serve_forever()
EOF
    setsid nginx -c "$work/nginx.conf" -p "$work" >"$work/nginx.out" 2>&1 < /dev/null &
    pid_record $! "$work/nginx.master"
    setsid python3 "$work/cut.py" "$root" "$cport" "$work" >"$work/cut.out" 2>&1 < /dev/null &
    pid_record $! "$work/cut.pid"
    for _ in $(seq 100); do
        if [ -f "$work/cut.ready" ] && curl -s --cacert "$work/ca.pem" -o /dev/null "https://127.0.0.1:$port/" &&
            { [ -z "$s3" ] || curl -s --cacert "$work/ca.pem" -o /dev/null "https://127.0.0.1:$((port + 2))/"; }; then
            [ -z "$s3" ] || curl -sSf --aws-sigv4 aws:amz:us-east-1:s3 --user "$RGW_ACCESS_KEY:$RGW_SECRET_KEY" \
                -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" -X PUT "$RGW_ENDPOINT/bkt" || break
            exit 0
        fi
        sleep 0.1
    done
    echo "httpsd: servers did not start (nginx: $(cat "$work/nginx.out" "$work/error.log" 2>/dev/null | tail -3))" >&2
    "$0" stop "$work"
    exit 1
    ;;
stop)
    work=$2
    [ -d "$work" ] || exit 0
    for f in nginx.master cut.pid; do
        # Its session (nginx's workers), by PID: pids.sh.
        pids=$(pid_members "$work/$f")
        # shellcheck disable=SC2086
        [ -z "$pids" ] || kill -TERM $pids 2>/dev/null || true
        for _ in $(seq 30); do pid_live "$work/$f" >/dev/null || break; sleep 0.1; done
    done
    "$(dirname "$0")/../ceph/cluster.sh" stop "$work/ceph"
    rm -rf -- "$work"
    ;;
*)
    echo "usage: httpsd.sh start ROOT WORK PORT [--s3] | stop WORK" >&2
    exit 2
    ;;
esac
