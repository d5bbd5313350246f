# Image sources that are downloaded (issue 13): DS cp and stat of http(s)://, s3:// and
# ssh://HOST:/PATH sources whose URL, checksum fields and served bytes are the attacker's.
# Every one is refused, and nothing is left: no file or temporary in the datastores, no
# process (the server below runs from before the picture to the end of this file).
# Sourced by test_hostile.sh ($R, $DS, $CANARY, $T, refuse, hostile_mark).
FSD=$R/datastore/fs
# HTTPS test ports: PORT (nginx), PORT+1 (httpsd's cutting server), PORT+3 (nothing listens).
# Apart from test_download.sh's 8443..8466, so both suites can run at once.
DLPORT=${HTTPSD_PORT:-$((8470 + 4 * (${TESTHOSTS_PORT:-0} % 6)))}
DLW=$T/dl-www
DLH=$T/dl-httpsd
DLF=$CANARY/dl  # the ssh sources' files (host01 sees them at the same paths)
mkdir -p "$DLW" "$DLF"
"$ONESTOR_SRC/test/e2e/httpsd.sh" start "$DLW" "$DLH" "$DLPORT" &
DLPID=$!
dl_stop() { wait "$DLPID" 2>/dev/null; "$ONESTOR_SRC/test/e2e/httpsd.sh" stop "$DLH" >/dev/null 2>&1; }
# Stopped at the end of this file, and on any earlier exit (before the suite's own cleanup).
eval "$(trap -p EXIT | sed "s/^trap -- '/trap -- 'dl_stop; /")"

# ---- fixtures (made by the real tools, while the server starts) ------------------------------
head -c 1M /dev/urandom > "$DLW/img"
head -c 64M /dev/zero | gzip -1 > "$DLW/bomb.gz"
(cd "$DLW" && cp img other && tar cf two.tar img other && ln -s img lnk && tar cf link.tar lnk &&
    tar cf dev.tar -C / dev/null && zip -q two.zip img other && zip -q -P pw enc.zip img)
qemu-img create -q -f qcow2 -F raw -b /etc/passwd "$DLW/backed.qcow2" 1M
qemu-img create -q -f qcow2 -F raw -b "$CANARY/one_auth" "$DLW/secret.qcow2" 1M
gzip -k "$DLW/backed.qcow2"
printf '# Disk DescriptorFile\nversion=1\ncreateType="monolithicFlat"\nRW 2048 FLAT "%s" 0\n' "$CANARY/one_auth" > "$DLW/desc.vmdk"
# Archive members named to escape (the name is never used: the member's bytes are the image,
# checked like any download), a hard link as the only member, and a tar holding the backed qcow2.
python3 - "$DLW" "$CANARY" <<'EOF'
import io, sys, tarfile, zipfile
w, canary = sys.argv[1], sys.argv[2]
q = open(w + "/secret.qcow2", "rb").read()
def tar(name, *members):
    with tarfile.open(w + "/" + name, "w", format=tarfile.USTAR_FORMAT) as t:
        for n, typ, data in members:
            i = tarfile.TarInfo(n); i.type = typ; i.size = len(data) if typ == tarfile.REGTYPE else 0
            if typ in (tarfile.LNKTYPE, tarfile.SYMTYPE): i.linkname = canary + "/one_auth"
            t.addfile(i, io.BytesIO(data) if typ == tarfile.REGTYPE else None)
tar("dotdot.tar", ("../../../../../.." + canary + "/x", tarfile.REGTYPE, q))
tar("abs.tar", (canary + "/planted", tarfile.REGTYPE, q))
tar("hard.tar", ("img", tarfile.LNKTYPE, b""))
tar("abslink.tar", ("img", tarfile.SYMTYPE, b""))
tar("fifo.tar", ("img", tarfile.FIFOTYPE, b""))
with zipfile.ZipFile(w + "/dotdot.zip", "w") as z:
    z.writestr("../../../../../.." + canary + "/x", q)
EOF
# ssh sources: a FIFO, a link out of SAFE_DIRS, a file with wrong checksums.
mkfifo "$DLF/fifo"
ln -s "$CANARY/one_auth" "$DLF/link"
cp "$DLW/img" "$DLF/img"
wait "$DLPID" || fail "download: the HTTPS test server did not start"
U=https://127.0.0.1:$DLPORT
NOTHING=https://127.0.0.1:$((DLPORT + 3))
export ONESTOR_DOWNLOAD_CA_FILE=$DLH/ca.pem ONESTOR_DOWNLOAD_RETRIES=0 ONESTOR_DOWNLOAD_CONNECT_TIMEOUT=5
# dcp/dstat KEY=VALUE...: the action on a ds_dump (SAFE_DIRS: the ssh sources' directory).
dcp() { timeout 30 "$FSD/cp" "$(ds_dump SAFE_DIRS="$DLF" RESTRICTED_DIRS=/ "$@")" 7; }
dstat() { timeout 30 "$FSD/stat" "$(ds_dump SAFE_DIRS="$DLF" RESTRICTED_DIRS=/ "$@")" 7; }
hostile_mark

# ---- schemes ----------------------------------------------------------------------------------
for u in file:///etc/passwd "file://$CANARY/one_auth" ftp://127.0.0.1/img gopher://127.0.0.1:70/x dict://127.0.0.1:2628/d \
    scp://host01/etc/passwd sftp://host01/etc/passwd tftp://127.0.0.1/x ldap://127.0.0.1/ FILE:///etc/passwd; do
    refuse "ds cp: a $u source" "unsupported source" dcp PATH="$u"
    refuse "ds stat: a $u source" "unsupported source" dstat PATH="$u"
done
refuse "ds cp: credentials in an ftp URL are not shown" "cannot import 'ftp://127.0.0.1/img'" dcp PATH=ftp://user:hunter2@127.0.0.1/img
check "ds cp: the ftp URL's password is in no message" bash -c '! grep -q hunter2 <<< "$1"' _ "$ERR"
refuse "ds cp: credentials in an https URL are not shown" "HTTP 404 from '$U/nothere'" dcp PATH="https://user:hunter2@127.0.0.1:$DLPORT/nothere?X-Amz-Signature=s3cr3t"
check "ds cp: the https URL's password and signature are in no message" bash -c '! grep -qE "hunter2|s3cr3t" <<< "$1"' _ "$ERR"
refuse "ds cp: a URL with a newline (a forged second line)" "URL using bad/illegal format" dcp PATH="$U/img
ERROR: forged"
refuse "ds cp: a port where nothing listens" "download of '$NOTHING/img' failed" dcp PATH="$NOTHING/img"
refuse "ds cp: a user name that looks like the server: the real host is named" "download of '$NOTHING/img' failed" \
    dcp PATH="https://127.0.0.1:$DLPORT@127.0.0.1:$((DLPORT + 3))/img"
refuse "ds stat: a port where nothing listens" "download of '$NOTHING/img' failed" dstat PATH="$NOTHING/img"

# ---- redirects and TLS ------------------------------------------------------------------------
# (file://, gopher://, ftp://, http://: one reason, the rule; not "may not lead to http")
for r in tofile togopher toftp downgrade; do
    refuse "ds cp: a redirect from https ($r)" "redirect of '$U/$r' to a refused protocol (from https, only to https)" dcp PATH="$U/$r"
    refuse "ds stat: a redirect from https ($r)" "redirect of '$U/$r' to a refused protocol (from https, only to https)" dstat PATH="$U/$r"
done
refuse "ds cp: an endless redirect" "too many redirects" dcp PATH="$U/loop"
refuse "ds cp: a redirect loop of two" "too many redirects" dcp PATH="$U/pingpong1"
refuse "ds stat: a redirect loop of two" "too many redirects" dstat PATH="$U/pingpong1"
refuse "ds cp: a redirect to a port where nothing listens" "download of '$U/tonothing' failed" dcp PATH="$U/tonothing"
ONESTOR_DOWNLOAD_CA_FILE=$DLH/other-ca.pem refuse "ds cp: a server certificate the CA did not sign" "not trusted" dcp PATH="$U/img"
ONESTOR_DOWNLOAD_CA_FILE=$DLH/other-ca.pem refuse "ds stat: a server certificate the CA did not sign" "not trusted" dstat PATH="$U/img"

# ---- checksums (template fields) --------------------------------------------------------------
refuse "ds cp: an MD5 mismatch" "checksum mismatch: MD5" dcp PATH="$U/img" MD5=0123456789abcdef0123456789abcdef
refuse "ds cp: a SHA1 mismatch" "checksum mismatch: SHA1" dcp PATH="$U/img" IMAGE_XML="<SHA1>$(printf '%040d' 0)</SHA1>"
refuse "ds cp: a SHA256 mismatch" "checksum mismatch: SHA256" dcp PATH="$U/img" IMAGE_XML="<SHA256>$(printf '%064d' 0)</SHA256>"
refuse "ds cp: right MD5, wrong SHA256" "checksum mismatch: SHA256" dcp PATH="$U/img" \
    MD5="$(md5sum < "$DLW/img" | cut -d' ' -f1)" IMAGE_XML="<SHA256>$(printf '%064d' 0)</SHA256>"
refuse "ds cp: an MD5 that is not hex" "bad MD5" dcp PATH="$U/img" MD5=0123456789abcdef0123456789abcdeg
refuse "ds cp: an MD5 one digit short" "bad MD5" dcp PATH="$U/img" MD5=0123456789abcdef0123456789abcde
refuse "ds cp: an MD5 with a command" "bad MD5" dcp PATH="$U/img" MD5='$(touch /tmp/PWNED)'
refuse "ds cp: a SHA256 in the MD5 field" "bad MD5" dcp PATH="$U/img" MD5="$(sha256sum < "$DLW/img" | cut -d' ' -f1)"
refuse "ds cp: a SHA1 with spaces" "bad SHA1" dcp PATH="$U/img" IMAGE_XML="<SHA1> $(sha1sum < "$DLW/img" | cut -d' ' -f1) </SHA1>"
refuse "ds cp: a SHA256 with a newline" "bad SHA256" dcp PATH="$U/img" IMAGE_XML="<SHA256>$(sha256sum < "$DLW/img" | cut -d' ' -f1)
</SHA256>"
refuse "ds cp: an ssh source with a wrong MD5" "checksum mismatch: MD5" dcp PATH="ssh://host01:$DLF/img" MD5=0123456789abcdef0123456789abcdef

# ---- what the server serves -------------------------------------------------------------------
ONESTOR_MAX_DOWNLOAD_SIZE=8M refuse "ds cp: a gzip bomb past MAX_DOWNLOAD_SIZE" "stopped at MAX_DOWNLOAD_SIZE" dcp PATH="$U/bomb.gz"
refuse "ds cp: a tar of two files" "holds more than one file" dcp PATH="$U/two.tar"
refuse "ds cp: a zip of two files" "holds more than one file" dcp PATH="$U/two.zip"
refuse "ds cp: a tar of a symlink" "must hold one regular file" dcp PATH="$U/link.tar"
refuse "ds cp: a tar of a symlink to the secret" "must hold one regular file" dcp PATH="$U/abslink.tar"
# (A zip's symlink member is not among these: streamed, its type is unknown (the mode lies in
# the central directory, at the end), so its bytes, the link's target name, import as a raw
# image of a few bytes; nothing is followed.)
refuse "ds cp: a tar of a hard link to the secret" "must hold one regular file" dcp PATH="$U/hard.tar"
refuse "ds cp: a tar of a device" "must hold one regular file" dcp PATH="$U/dev.tar"
refuse "ds cp: a tar of a FIFO" "must hold one regular file" dcp PATH="$U/fifo.tar"
refuse "ds cp: an encrypted zip" "encrypted" dcp PATH="$U/enc.zip"
refuse "ds cp: a tar member '../..$CANARY/x' (a qcow2 backed by the secret)" "backing file" dcp PATH="$U/dotdot.tar"
refuse "ds cp: a tar member '$CANARY/planted' (the same)" "backing file" dcp PATH="$U/abs.tar"
refuse "ds cp: a zip member '../..$CANARY/x' (the same)" "backing file" dcp PATH="$U/dotdot.zip"
refuse "ds cp: a qcow2 backed by /etc/passwd" "backing file" dcp PATH="$U/backed.qcow2"
refuse "ds cp: a qcow2 backed by /etc/passwd, gzip" "backing file" dcp PATH="$U/backed.qcow2.gz"
refuse "ds stat: a qcow2 backed by /etc/passwd, gzip" "backing file" dstat PATH="$U/backed.qcow2.gz"
refuse "ds stat: a tar of a qcow2 backed by the secret" "backing file" dstat PATH="$U/dotdot.tar"
refuse "ds cp: a vmdk descriptor naming the secret" "vmdk descriptor" dcp PATH="$U/desc.vmdk"
refuse "ds stat: a vmdk descriptor naming the secret" "vmdk descriptor" dstat PATH="$U/desc.vmdk"
refuse "ds cp: HTTP 404" "HTTP 404" dcp PATH="$U/error404"

# ---- ssh:// sources ---------------------------------------------------------------------------
for h in '-oProxyCommand=touch${IFS}PWNED' '-oProxyCommand=sh' 'host01;id' 'host01 -v' '$(id)'; do
    refuse "ds cp: an ssh host '$h'" "invalid host name" dcp PATH="ssh://$h:$DLF/img"
    refuse "ds stat: an ssh host '$h'" "invalid host name" dstat PATH="ssh://$h:$DLF/img"
done
refuse "ds cp: a HOST:/PATH source whose host is an ssh option" "invalid host name" dcp PATH="-oProxyCommand=sh:$DLF/img"
refuse "ds cp: an ssh path with '..' out of SAFE_DIRS" "contains '..'" dcp PATH="ssh://host01:$DLF/../one_auth"
refuse "ds stat: an ssh path with '..' out of SAFE_DIRS" "contains '..'" dstat PATH="ssh://host01:$DLF/../one_auth"
refuse "ds cp: an ssh path outside SAFE_DIRS" "Not allowed to copy image from" dcp PATH="ssh://host01:$CANARY/one_auth"
refuse "ds stat: an ssh path outside SAFE_DIRS" "Not allowed to copy image from" dstat PATH="ssh://host01:$CANARY/one_auth"
refuse "ds cp: an ssh path outside SAFE_DIRS that does not exist (same answer)" "Not allowed to copy image from" dcp PATH="ssh://host01:$CANARY/nothere"
refuse "ds cp: an ssh link out of SAFE_DIRS" "Not allowed to copy image from" dcp PATH="ssh://host01:$DLF/link"
refuse "ds cp: an ssh relative path" "must be absolute" dcp PATH="ssh://host01:etc/passwd"
refuse "ds cp: an ssh source that is a FIFO" "not a regular file" dcp PATH="ssh://host01:$DLF/fifo"
refuse "ds stat: an ssh source that is a FIFO" "not a regular file" dstat PATH="ssh://host01:$DLF/fifo"
refuse "ds cp: an ssh source that is a device" "not a regular file" dcp PATH="ssh://host01:/dev/zero" SAFE_DIRS=/dev
refuse "ds stat: an ssh source that is a device" "not a regular file" dstat PATH="ssh://host01:/dev/zero" SAFE_DIRS=/dev

# ---- s3:// ------------------------------------------------------------------------------------
refuse "ds cp: an s3 source with no keys anywhere" "needs a region, an access key and a secret key" dcp PATH=s3://bkt/img
refuse "ds stat: an s3 source with no keys anywhere" "needs a region, an access key and a secret key" dstat PATH=s3://bkt/img
refuse "ds cp: an s3 source with no key" "bad S3 source" dcp PATH=s3://bkt IMAGE_XML="<REGION>r</REGION><ACCESS_KEY_ID>a</ACCESS_KEY_ID><SECRET_ACCESS_KEY>s</SECRET_ACCESS_KEY>"
refuse "ds cp: an s3 access key without its secret" "needs a region, an access key and a secret key" dcp PATH=s3://bkt/img \
    IMAGE_XML="<REGION>r</REGION><ACCESS_KEY_ID>a</ACCESS_KEY_ID>" DS_XML="<REGION>r</REGION><ACCESS_KEY_ID>b</ACCESS_KEY_ID><SECRET_ACCESS_KEY>dssecret</SECRET_ACCESS_KEY>"
refuse "ds cp: an s3 ENDPOINT that is a file" "bad S3 endpoint" dcp PATH=s3://bkt/img \
    IMAGE_XML="<ENDPOINT>file:///etc/passwd</ENDPOINT><REGION>r</REGION><ACCESS_KEY_ID>a</ACCESS_KEY_ID><SECRET_ACCESS_KEY>s3key</SECRET_ACCESS_KEY>"
check "ds cp: the s3 secrets are in no message" bash -c '! grep -qE "s3key|dssecret" <<< "$1"' _ "$ERR"

dl_stop
unset ONESTOR_DOWNLOAD_CA_FILE ONESTOR_DOWNLOAD_RETRIES ONESTOR_DOWNLOAD_CONNECT_TIMEOUT
