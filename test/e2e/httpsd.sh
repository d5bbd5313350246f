#!/usr/bin/env bash
# HTTPS test servers for the download suite, on loopback only:
#   httpsd.sh start ROOT WORK PORT    serve ROOT; everything the servers need lives in WORK
#   httpsd.sh stop WORK               stop them and remove WORK
# On https://127.0.0.1:PORT, Debian's nginx (not a daemon, its own config, pid and logs)
# serves ROOT with Range and ETags, plus:
#   /redirect1 -> /redirect2 -> /redir/<name> (a chain)      /loop (an endless redirect)
#   /downgrade -> http://127.0.0.1:PORT+1/img (https to http)  /error500, /error404 (statuses)
# On https://127.0.0.1:PORT+1, a small Python server serves ROOT too, but the first request
# of each file gets the full Content-Length and only half the body before the connection is
# closed: /cut/<name> honours Range on the retry, /norange/<name> always sends the whole file,
# /alwayscut/<name> cuts every response and ignores Range.
# It logs "PATH RANGE STATUS" per request in WORK/cut.log.
# On https://127.0.0.1:PORT+2, an S3 API server (s3rver, from npm: scripts/deps.sh installs it
# in /opt/onestor-test) with a bucket "bkt", access key S3RVER; its log is WORK/s3.log.
# On http://127.0.0.1:PORT+3, moto's S3 server (pip), which verifies SigV4 signatures (s3rver
# does not): an IAM user with S3 rights is made before authentication starts; its keys are in
# WORK/moto.env (MOTO_KEY=, MOTO_SECRET=); log WORK/moto.log.
# The CA is WORK/ca.pem; WORK/other-ca.pem is a CA that signed nothing here.
set -euo pipefail

cmd=${1:-}
case "$cmd" in
start)
    root=$(cd "$2" && pwd); work=$3; port=$4; cport=$((port + 1))
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
    }
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
    echo $! > "$work/nginx.master"
    setsid python3 "$work/cut.py" "$root" "$cport" "$work" >"$work/cut.out" 2>&1 < /dev/null &
    echo $! > "$work/cut.pid"
    s3rver=${S3RVER:-/opt/onestor-test/node_modules/.bin/s3rver}
    mkdir -p "$work/s3"
    setsid "$s3rver" -d "$work/s3" -a 127.0.0.1 -p $((port + 2)) --key "$work/server.key" --cert "$work/server.pem" \
        --configure-bucket bkt >"$work/s3.log" 2>&1 < /dev/null &
    echo $! > "$work/s3.pid"
    # Three unauthenticated IAM calls (user, key, policy), every later request is verified.
    INITIAL_NO_AUTH_ACTION_COUNT=3 setsid moto_server -H 127.0.0.1 -p $((port + 3)) >"$work/moto.log" 2>&1 < /dev/null &
    echo $! > "$work/moto.pid"
    for _ in $(seq 100); do
        if [ -f "$work/cut.ready" ] && curl -s --cacert "$work/ca.pem" -o /dev/null "https://127.0.0.1:$port/" &&
            curl -s --cacert "$work/ca.pem" -o /dev/null "https://127.0.0.1:$((port + 2))/" &&
            curl -s -o /dev/null "http://127.0.0.1:$((port + 3))/moto-api/"; then
            python3 - "http://127.0.0.1:$((port + 3))" > "$work/moto.env" <<'EOF' || break
import boto3, json, sys
iam = boto3.client("iam", endpoint_url=sys.argv[1], region_name="us-east-1",
                   aws_access_key_id="x", aws_secret_access_key="x")
iam.create_user(UserName="onestor")
k = iam.create_access_key(UserName="onestor")["AccessKey"]
iam.put_user_policy(UserName="onestor", PolicyName="s3", PolicyDocument=json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
print("MOTO_KEY=" + k["AccessKeyId"]); print("MOTO_SECRET=" + k["SecretAccessKey"])
EOF
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
    for f in nginx.master cut.pid s3.pid moto.pid; do
        if [ -f "$work/$f" ]; then
            pid=$(cat "$work/$f")
            kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
            for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        fi
    done
    rm -rf -- "$work"
    ;;
*)
    echo "usage: httpsd.sh start ROOT WORK PORT | stop WORK" >&2
    exit 2
    ;;
esac
