#!/usr/bin/env bash
# The download pipeline end to end (issue 13), through the hidden `onestor fetch URL OUT`,
# against real HTTPS servers on loopback (test/e2e/httpsd.sh: nginx with a CA made here, a
# server that cuts connections, and S3 from a Ceph RADOS Gateway). Each case checks the bytes
# of the result, or that a refused download left nothing in the output directory (no final
# name, no temp file).
source "$(dirname "$0")/lib.sh"
e2e_init "$@" none

# HTTPS test ports: 8443..8466, four per suite run (nginx, the cutting server, nginx's S3
# proxy; one spare). The Ceph cluster's ports come from TESTHOSTS_PORT (test/ceph/cluster.sh).
PORT=${HTTPSD_PORT:-$((8443 + 4 * (${TESTHOSTS_PORT:-0} % 6)))}
WWW=$T/www
HW=$T/httpsd
mkdir -p "$WWW"
# The servers start while the fixtures are made (the cluster mostly waits on itself, ~30 s).
"$ONESTOR_SRC/test/e2e/httpsd.sh" start "$WWW" "$HW" "$PORT" --s3 &
HPID=$!
trap 'wait $HPID 2>/dev/null; "$ONESTOR_SRC/test/e2e/httpsd.sh" stop "$HW" >/dev/null 2>&1; e2e_cleanup' EXIT

# Fixtures, made by the real tools: an image with a zero run (a hole) and random data.
{ head -c 1M /dev/urandom; head -c 8M /dev/zero; head -c 3M /dev/urandom; printf tail; } > "$WWW/img"
gzip -k "$WWW/img"; bzip2 -k "$WWW/img"; xz -k -T1 "$WWW/img"; zstd -q "$WWW/img" -o "$WWW/img.zst"
(cd "$WWW" && tar cf img.tar img && tar czf img.tgz img && zip -q img.zip img && cp img other &&
    tar cf two.tar img other && mkdir d && cp img d/ && tar cf dir.tar d && ln -s img lnk && tar cf link.tar lnk)
head -c 1G /dev/zero | gzip -1 > "$WWW/bomb.gz"
# A 4 GiB sparse image holding 64 MiB of data in 8 extents, gzip-compressed.
truncate -s 4G "$T/sparse"
for i in 0 1 2 3 4 5 6 7; do
    head -c 8M /dev/urandom | dd of="$T/sparse" bs=1M seek=$((i * 512)) conv=notrunc status=none
done
gzip -1 -c "$T/sparse" > "$WWW/sparse.gz"
head -c 10M /dev/urandom > "$WWW/slow"

wait $HPID || { echo "httpsd failed" >&2; exit 1; }
source "$HW/ceph/rgw.env"
U=https://127.0.0.1:$PORT
C=https://127.0.0.1:$((PORT + 1))
export ONESTOR_DOWNLOAD_CA_FILE=$HW/ca.pem ONESTOR_DOWNLOAD_RETRIES=2

n=0
# fetch URL [OPTIONS...]: fetches into a fresh directory $O (result $O/out).
fetch() {
    n=$((n + 1)); O=$T/out$n; mkdir -p "$O"
    local url=$1; shift
    run_action "$ONESTOR_BIN" fetch "$url" "$O/out" "$@"
}
same() { cmp -s "$1" "$2"; }
empty_dir() { [ -z "$(ls -A "$1")" ]; }
# refused DESCRIPTION SUBSTRING URL [OPTIONS...]: an error naming SUBSTRING, nothing created.
refused() {
    local d=$1 want=$2; shift 2
    n=$((n + 1)); O=$T/out$n; mkdir -p "$O"
    local url=$1; shift
    expect_error "$d" "$want" "$ONESTOR_BIN" fetch "$url" "$O/out" "$@"
    check "$d: nothing created" empty_dir "$O"
}

# --- plain, compressions, archives ---------------------------------------------------------
fetch "$U/img" --digests
check "https: the bytes arrive" same "$O/out" "$WWW/img"
check "https: the MD5 reported is the file's" grep -qx "md5 $(md5sum < "$WWW/img" | cut -d' ' -f1)" <<< "$OUT"
check "https: the zero run is a hole" test "$(alloc_kib "$O/out")" -lt 6000
for z in gz bz2 xz zst; do
    fetch "$U/img.$z"
    check "$z: decompressed while streaming" same "$O/out" "$WWW/img"
done
for a in tar zip tgz; do
    fetch "$U/img.$a"
    check "$a: the one file unpacked" same "$O/out" "$WWW/img"
done
fetch "$U/img.gz" --no-decompress
check "--no-decompress: the bytes as served" same "$O/out" "$WWW/img.gz"
refused "a tar of two files" "holds more than one file" "$U/two.tar"
refused "a tar of a directory" "must hold one regular file" "$U/dir.tar"
refused "a tar of a symlink" "must hold one regular file" "$U/link.tar"

# --- checksums ---------------------------------------------------------------------------
fetch "$U/img.gz" --md5 "$(md5sum < "$WWW/img.gz" | cut -d' ' -f1)" \
    --sha1 "$(sha1sum < "$WWW/img.gz" | cut -d' ' -f1)" --sha256 "$(sha256sum < "$WWW/img.gz" | cut -d' ' -f1)"
check "matching MD5, SHA1 and SHA256 (of the file as served) accepted" same "$O/out" "$WWW/img"
refused "an MD5 mismatch" "checksum mismatch: MD5 of '$U/img.gz' is" "$U/img.gz" --md5 0123456789abcdef0123456789abcdef
refused "a SHA256 mismatch" "checksum mismatch: SHA256" "$U/img" --sha256 "$(printf '%064d' 0)"
refused "a malformed MD5" "bad MD5" "$U/img" --md5 xyz

# --- HTTP: redirects, errors, TLS --------------------------------------------------------
fetch "$U/redirect1"
check "a redirect chain is followed" same "$O/out" "$WWW/img"
check "the chain went through each hop" bash -c "grep -q '^/redirect2 ' '$HW/access.log' && grep -q '^/redir/img.gz ' '$HW/access.log'"
refused "an endless redirect" "too many redirects" "$U/loop"
refused "a redirect from https to http" "to a refused protocol (from https, only to https)" "$U/downgrade"
refused "HTTP 404" "HTTP 404 from '$U/error404'" "$U/error404"
refused "HTTP 500, after the retries" "HTTP 500 from '$U/error500' (after 3 attempts)" "$U/error500"
check "a 500 is retried (3 requests)" test "$(grep -c '^/error500 ' "$HW/access.log")" -eq 3
ONESTOR_DOWNLOAD_CA_FILE=$HW/other-ca.pem refused "a certificate of another CA" "TLS certificate of '$U/img' not trusted" "$U/img"
ONESTOR_DOWNLOAD_CA_FILE= refused "the system CAs do not know the test CA" "not trusted" "$U/img"
refused "credentials never in messages" "HTTP 404 from '$U/nothere'" "https://user:secret@127.0.0.1:$PORT/nothere?X-Amz-Signature=abc"
check "credentials never in the log" bash -c "! grep -q secret <<< \"\$1\"" _ "$ERR"

# --- interrupted transfers ---------------------------------------------------------------
fetch "$C/cut/img.gz"
check "a cut connection: the retry completes the bytes" same "$O/out" "$WWW/img"
check "a cut connection: resumed with a Range request (206)" grep -Eq '^/cut/img.gz bytes=[1-9][0-9]*- 206$' "$HW/cut.log"
check "a cut connection: the retry is logged as INFO" grep -q '^INFO: .*resuming at byte' <<< "$ERR"
fetch "$C/norange/img.xz"
check "a server that ignores Range: started over, the bytes right" same "$O/out" "$WWW/img"
check "a server that ignores Range: logged" grep -q 'starting over' <<< "$ERR"
refused "a server that always cuts and cannot resume: bounded restarts" "keeps breaking off" "$C/alwayscut/img"
fetch "$C/norange/img.zip" --md5 "$(md5sum < "$WWW/img.zip" | cut -d' ' -f1)"
check "started over: the checksum covers the bytes once" same "$O/out" "$WWW/img"

# --- limits, sparse images, progress -----------------------------------------------------
refused "a gzip bomb stops at --limit" "stopped at --limit (104857600 bytes)" "$U/bomb.gz" --limit 100M
ONESTOR_MAX_DOWNLOAD_SIZE=64M refused "a gzip bomb stops at MAX_DOWNLOAD_SIZE" \
    "stopped at MAX_DOWNLOAD_SIZE (67108864 bytes)" "$U/bomb.gz"
fetch "$U/sparse.gz"
check "a 4 GiB sparse image: the bytes arrive" test "$(sparse_sum "$O/out")" = "$(sparse_sum "$T/sparse")"
check "a 4 GiB sparse image: allocation ~ its 64 MiB of data" test "$(alloc_kib "$O/out")" -le $((64 * 1024 + 1024))
check "a 4 GiB sparse image: 4 GiB apparent size" test "$(stat -c %s "$O/out")" -eq $((4 << 30))
start=$(date +%s.%N)
ONESTOR_LIMIT_TRANSFER_BW=1M fetch "$U/slow"
took=$(echo "$(date +%s.%N) - $start" | bc)
check "LIMIT_TRANSFER_BW caps the rate (10 MiB at 1 MiB/s: $took s)" test "$(echo "$took >= 7.5" | bc)" -eq 1
check "progress: INFO lines with bytes and rate on stderr" grep -Eq "^INFO: .*'$U/slow': [0-9.]+ MiB of 10.0 MiB, [0-9.]+ MiB/s, ETA [0-9]+ s" <<< "$ERR"
check "progress: stdout holds only the summary" bash -c "! grep -q INFO <<< \"\$1\"" _ "$OUT"
check "progress: the bytes arrive" same "$O/out" "$WWW/slow"

# --- S3 (the RADOS Gateway behind nginx's https; SigV4 signatures verified) ---------------
S=https://127.0.0.1:$((PORT + 2))
for key in dir/img.gz "dir/my%20img.xz"; do
    curl -sSf --cacert "$HW/ca.pem" --aws-sigv4 aws:amz:us-east-1:s3 --user "$RGW_ACCESS_KEY:$RGW_SECRET_KEY" \
        -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" -T "$WWW/img.${key##*.}" "$S/bkt/$key" >/dev/null || fail "upload of $key to S3"
done
export AWS_ACCESS_KEY_ID=$RGW_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$RGW_SECRET_KEY
fetch s3://bkt/dir/img.gz --s3-endpoint "$S" --s3-region us-east-1
check "s3://: a signed GET brings the bytes" same "$O/out" "$WWW/img"
fetch "s3://bkt/dir/my img.xz" --s3-endpoint "$S" --s3-region us-east-1
check "s3://: a key with a space (percent-encoded in the request)" same "$O/out" "$WWW/img"
AWS_ACCESS_KEY_ID=WRONGKEY AWS_SECRET_ACCESS_KEY=topsecret refused "s3://: a wrong access key" \
    "HTTP 403 from 's3://bkt/dir/img.gz'" s3://bkt/dir/img.gz --s3-endpoint "$S" --s3-region us-east-1
check "s3://: the secret is never in the messages" bash -c "! grep -q topsecret <<< \"\$1\"" _ "$ERR"
AWS_SECRET_ACCESS_KEY=wrong$RGW_SECRET_KEY refused "s3://: the right access key with a wrong secret" \
    "HTTP 403 from 's3://bkt/dir/img.gz'" s3://bkt/dir/img.gz --s3-endpoint "$S" --s3-region us-east-1
AWS_SECRET_ACCESS_KEY= refused "s3://: no secret key" "needs a region, an access key and a secret key" \
    s3://bkt/dir/img.gz --s3-endpoint "$S" --s3-region us-east-1
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY

# --- local sources as today's cp reads them ----------------------------------------------
fetch "$WWW/img.zst"
check "a local compressed file through the same pipeline" same "$O/out" "$WWW/img"

# --- DS cp and stat through the installed action (datastore/fs/cp), as oned runs them ------
echo "# datastore/fs/cp from URLs"
FSD=$R/datastore/fs
BASE=$DS/1
mkdir -p "$BASE"
qemu-img create -q -f qcow2 "$WWW/q.qcow2" 64M && qemu-io -c 'write -P 0x5a 1M 1M' "$WWW/q.qcow2" >/dev/null
qemu-img create -q -f qcow2 -b /etc/passwd -F raw "$WWW/backed.qcow2" 1M
gzip -k "$WWW/q.qcow2"
# listing: what the datastore holds (names, sizes, types), equal before and after a refusal.
listing() { find "$DS" -printf '%p %s %y\n' | sort; }
# one_source S: one line naming a new regular file directly under BASE_PATH.
one_source() { [ "$(printf '%s\n' "$1" | wc -l)" -eq 1 ] && [[ $1 == "$BASE"/* ]] && [[ ${1#"$BASE"/} != */* ]] && [ -f "$1" ]; }
# ds_refused DESCRIPTION SUBSTRING DUMP: cp refused with SUBSTRING, the datastore unchanged.
ds_refused() {
    local before
    before=$(listing)
    expect_error "$1" "$2" "$FSD/cp" "$3" 7
    check "$1: nothing created in the datastore" test "$before" = "$(listing)"
}
expect_ok "cp https: a plain image" "$FSD/cp" "$(ds_dump PATH="$U/img")" 7
check "cp https: one SOURCE with the image's bytes" eval 'one_source "$OUT" && same "$OUT" "$WWW/img"'
check "cp https: the zero run is a hole" test "$(alloc_kib "$OUT")" -lt 6000
for z in gz xz zst tar; do
    expect_ok "cp https: img.$z" "$FSD/cp" "$(ds_dump PATH="$U/img.$z")" 7
    check "cp https: img.$z unpacked into the image's bytes" eval 'one_source "$OUT" && same "$OUT" "$WWW/img"'
done
expect_ok "cp https: NO_DECOMPRESS=yes keeps the bytes as served" "$FSD/cp" "$(ds_dump PATH="$U/img.gz" DS_XML='<NO_DECOMPRESS>YES</NO_DECOMPRESS>')" 7
check "cp https, NO_DECOMPRESS: the gzip file itself" same "$OUT" "$WWW/img.gz"
expect_ok "cp https: MD5 and SHA1 of the file as served verified" "$FSD/cp" \
    "$(ds_dump PATH="$U/img.gz" MD5="$(md5sum < "$WWW/img.gz" | cut -d' ' -f1)" IMAGE_XML="<SHA1>$(sha1sum < "$WWW/img.gz" | cut -d' ' -f1)</SHA1>")" 7
check "cp https, checksums: the image's bytes" same "$OUT" "$WWW/img"
ds_refused "cp https: an MD5 mismatch" "checksum mismatch: MD5 of '$U/img.gz'" "$(ds_dump PATH="$U/img.gz" MD5=0123456789abcdef0123456789abcdef)"
ds_refused "cp https: a SHA256 mismatch" "checksum mismatch: SHA256" "$(ds_dump PATH="$U/img" IMAGE_XML="<SHA256>$(printf '%064d' 0)</SHA256>")"
ds_refused "cp: an MD5 mismatch of a local file" "checksum mismatch: MD5" "$(ds_dump PATH="$WWW/img" SAFE_DIRS="$WWW" RESTRICTED_DIRS=/ MD5=0123456789abcdef0123456789abcdef)"
expect_ok "cp: a local gzip file is decompressed as upstream's downloader does" "$FSD/cp" "$(ds_dump PATH="$WWW/img.gz" SAFE_DIRS="$WWW" RESTRICTED_DIRS=/)" 7
check "cp local gzip: the image's bytes" same "$OUT" "$WWW/img"
ONESTOR_DOWNLOAD_CA_FILE=$HW/other-ca.pem ds_refused "cp https: a certificate of another CA" "not trusted" "$(ds_dump PATH="$U/img")"
ONESTOR_MAX_DOWNLOAD_SIZE=64M ds_refused "cp https: a gzip bomb stops at MAX_DOWNLOAD_SIZE" "stopped at MAX_DOWNLOAD_SIZE" "$(ds_dump PATH="$U/bomb.gz")"
expect_ok "cp https: a 4 GiB sparse image, gzip" "$FSD/cp" "$(ds_dump PATH="$U/sparse.gz")" 7
check "cp https sparse: the bytes arrive" test "$(sparse_sum "$OUT")" = "$(sparse_sum "$T/sparse")"
check "cp https sparse: allocation ~ its 64 MiB of data ($(alloc_kib "$OUT") KiB)" test "$(alloc_kib "$OUT")" -le $((64 * 1024 + 1024))
rm -f "$OUT"
expect_ok "cp https: a qcow2 (gzip) into a DRIVER=raw datastore" "$FSD/cp" "$(ds_dump PATH="$U/q.qcow2.gz" DRIVER=raw)" 7
check "cp https qcow2: converted to raw, data kept" eval '[ "$(qemu-img info "$OUT" | sed -n "s/^file format: //p")" = raw ] && qemu-io -f raw -r -c "read -P 0x5a 1M 1M" "$OUT" >/dev/null'
ds_refused "cp https: a qcow2 backed by a front-end file" "backing file" "$(ds_dump PATH="$U/backed.qcow2")"
ds_refused "cp: an unknown scheme" "unsupported source" "$(ds_dump PATH=ftp://127.0.0.1/img)"
start=$(date +%s.%N)
expect_ok "cp https: the datastore's LIMIT_TRANSFER_BW" "$FSD/cp" "$(ds_dump PATH="$U/slow" DS_XML='<LIMIT_TRANSFER_BW>1M</LIMIT_TRANSFER_BW>')" 7
took=$(echo "$(date +%s.%N) - $start" | bc)
check "cp https, LIMIT_TRANSFER_BW=1M: 10 MiB took $took s (>= 7.5)" test "$(echo "$took >= 7.5" | bc)" -eq 1
check "cp https: progress INFO lines (bytes, rate, ETA) on stderr" grep -Eq "^INFO: .*[0-9.]+ MiB of 10.0 MiB, [0-9.]+ MiB/s, ETA [0-9]+ s" <<< "$ERR"
check "cp https: stdout is only the SOURCE" one_source "$OUT"
expect_ok "stat https: a qcow2's virtual size from its header (gzip)" "$FSD/stat" "$(ds_dump PATH="$U/q.qcow2.gz")" 7
check "stat https qcow2: 64 MiB ($OUT)" test "$OUT" = 64
expect_ok "stat https: a raw image's announced length" "$FSD/stat" "$(ds_dump PATH="$U/img")" 7
check "stat https raw: 13 MiB rounded up ($OUT)" test "$OUT" = 13
expect_error "stat https: a compressed raw image cannot be sized" "sized only by downloading" "$FSD/stat" "$(ds_dump PATH="$U/img.xz")" 7
S=https://127.0.0.1:$((PORT + 2))
S3XML="<ENDPOINT>$S</ENDPOINT><REGION>us-east-1</REGION><ACCESS_KEY_ID>$RGW_ACCESS_KEY</ACCESS_KEY_ID>"
expect_ok "cp s3: signed GET, keys from the datastore template" "$FSD/cp" "$(ds_dump PATH=s3://bkt/dir/img.gz DS_XML="$S3XML<SECRET_ACCESS_KEY>$RGW_SECRET_KEY</SECRET_ACCESS_KEY>")" 7
check "cp s3: the image's bytes" same "$OUT" "$WWW/img"
ONESTOR_S3_ENDPOINT=$S ONESTOR_S3_REGION=us-east-1 ONESTOR_S3_ACCESS_KEY_ID=$RGW_ACCESS_KEY ONESTOR_S3_SECRET_ACCESS_KEY=$RGW_SECRET_KEY \
    expect_ok "cp s3: keys from the settings" "$FSD/cp" "$(ds_dump PATH=s3://bkt/dir/img.gz)" 7
check "cp s3 (settings): the image's bytes" same "$OUT" "$WWW/img"
ds_refused "cp s3: a wrong access key" "HTTP 403" "$(ds_dump PATH=s3://bkt/dir/img.gz DS_XML="<ENDPOINT>$S</ENDPOINT><REGION>us-east-1</REGION><ACCESS_KEY_ID>WRONG</ACCESS_KEY_ID><SECRET_ACCESS_KEY>topsecret</SECRET_ACCESS_KEY>")"
check "cp s3: the secret is never in the messages" bash -c "! grep -q topsecret <<< \"\$1\"" _ "$ERR"
ds_refused "cp s3: no keys anywhere" "needs a region, an access key and a secret key" "$(ds_dump PATH=s3://bkt/dir/img.gz)"
# The gateway itself, plain http: it verifies the signature, a right key with a wrong secret is refused.
M=$RGW_ENDPOINT
curl -sSf --aws-sigv4 aws:amz:us-east-1:s3 --user "$RGW_ACCESS_KEY:$RGW_SECRET_KEY" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" \
    -T "$WWW/img.zst" "$M/bkt/img.zst" >/dev/null || fail "upload to the gateway over http"
MXML="<ENDPOINT>$M</ENDPOINT><REGION>us-east-1</REGION><ACCESS_KEY_ID>$RGW_ACCESS_KEY</ACCESS_KEY_ID>"
expect_ok "cp s3 (http): a signed GET, its signature verified" "$FSD/cp" "$(ds_dump PATH=s3://bkt/img.zst DS_XML="$MXML<SECRET_ACCESS_KEY>$RGW_SECRET_KEY</SECRET_ACCESS_KEY>")" 7
check "cp s3 (http): the image's bytes" same "$OUT" "$WWW/img"
ds_refused "cp s3 (http): the right key with a WRONG SECRET" "HTTP 403 from 's3://bkt/img.zst'" \
    "$(ds_dump PATH=s3://bkt/img.zst DS_XML="$MXML<SECRET_ACCESS_KEY>wrong${RGW_SECRET_KEY}</SECRET_ACCESS_KEY>")"
check "cp s3 (http): the secret is never in the messages" bash -c "! grep -q -- \"\$2\" <<< \"\$1\"" _ "$ERR" "wrong$RGW_SECRET_KEY"
check "cp/stat: no temporary file left in the datastore" test -z "$(find "$BASE" -name '.*onestor-tmp*')"

# --- TM context with http(s) entries in FILES -----------------------------------------------
echo "# tm/shared/context with URLs"
V=$DS/0/42
mkdir -p "$V"
echo "ctx" > "$T/context.sh"
printf '#!/bin/sh\necho hi\n' > "$WWW/init.sh"
expect_ok "context: https:// files in FILES" "$R/tm/shared/context" "$T/context.sh" "$U/init.sh" "$U/redirect1:'img.gz'" \
    "frontend:$V/disk.2" 42 0
check "context: the URL's file in the ISO under its last path segment" cmp -s <(isoinfo -R -i "$V/disk.2" -x /init.sh) "$WWW/init.sh"
check "context: a URL:'name' file (through redirects), as served (not decompressed)" cmp -s <(isoinfo -R -i "$V/disk.2" -x /img.gz) "$WWW/img.gz"
check "context: the local file too" test "$(isoinfo -R -i "$V/disk.2" -x /context.sh)" = ctx
ONESTOR_DOWNLOAD_CA_FILE=$HW/other-ca.pem expect_error "context: a URL whose certificate is not trusted" "not trusted" \
    "$R/tm/shared/context" "$T/context.sh" "$U/init.sh" "frontend:$V/disk.3" 42 0
check "context (untrusted): no ISO, no temporary left" eval '[ ! -e "$V/disk.3" ] && [ -z "$(find "$DS" -name "*onestor-tmp*")" ]'
expect_error "context: a 404" "HTTP 404" "$R/tm/shared/context" "$T/context.sh" "$U/nothere.sh" "frontend:$V/disk.4" 42 0
check "context (404): no ISO" test ! -e "$V/disk.4"

e2e_finish
