# The earlier hostile inputs: garbage and malformed documents, traversal, metacharacters in
# host names, symlinks out of SAFE_DIRS, wrong argument counts, unknown actions and drivers.
# Sourced by test_hostile.sh ($R, $DS, $V, $IMG, $CANARY, refuse, hostile_mark).
FSD=$R/datastore/fs
SAFE=$CANARY/safe
mkdir -p "$SAFE"
ln -s "$CANARY/one_auth" "$SAFE/secret-link"
ln -s ../../onestor "$R/tm/shared/bogus"
hostile_mark

refuse "ds: garbage base64" "not valid base64" "$FSD/cp" '!!garbage**' 7
refuse "ds: base64 of malformed XML" "not well-formed XML" "$FSD/cp" "$(printf '<DS_DRIVER_ACTION_DATA><IMAGE><PATH>x' | base64 -w0)" 7
refuse "ds: a dump without DATASTORE" "no DATASTORE" "$FSD/cp" \
    "$(printf '<DS_DRIVER_ACTION_DATA><IMAGE><PATH>%s</PATH></IMAGE></DS_DRIVER_ACTION_DATA>' "$SAFE/x" | base64 -w0)" 7
refuse "ds cp: a path with '..'" "'..'" "$FSD/cp" "$(ds_dump PATH="$SAFE/../one_auth" SAFE_DIRS="$SAFE")" 7
refuse "ds cp: a relative path" "not absolute" "$FSD/cp" "$(ds_dump PATH=one_auth SAFE_DIRS="$SAFE")" 7
refuse "ds cp: a file outside SAFE_DIRS" "Not allowed to copy image from" \
    "$FSD/cp" "$(ds_dump PATH="$CANARY/one_auth" SAFE_DIRS="$SAFE" RESTRICTED_DIRS=/)" 7
refuse "ds cp: a symlink in SAFE_DIRS to a file outside" "Not allowed to copy image from" \
    "$FSD/cp" "$(ds_dump PATH="$SAFE/secret-link" SAFE_DIRS="$SAFE" RESTRICTED_DIRS=/)" 7
refuse "ds rm: a SOURCE outside the datastore" "is not inside the datastore" "$FSD/rm" "$(ds_dump SOURCE="$CANARY/one_auth")" 7
refuse "ds: no arguments" "usage" "$FSD/cp"
refuse "ds: a non-numeric image id" "id must be an integer" "$FSD/cp" "$(ds_dump PATH="$SAFE/x")" '7;id'

refuse "tm: a host name with a command in it" "invalid host name" \
    "$R/tm/shared/clone" "frontend:$IMG" "host01\$(touch /tmp/PWNED):$V/disk.1" 42 1
refuse "tm: a host name with a leading dash" "invalid host name" "$R/tm/shared/delete" "-oProxyCommand=touch /tmp/PWNED:$V" 42 0
refuse "tm: a relative path" "not absolute" "$R/tm/shared/delete" "host01:var/lib/one" 42 0
refuse "tm: a path with '..'" "'..'" "$R/tm/shared/delete" "host01:$V/../../1" 42 0
refuse "tm: a path with a control character" "control character" "$R/tm/shared/delete" "host01:$V/disk.0"$'\n'"x" 42 0
refuse "tm: a non-numeric vm id" "vmid must be an integer" "$R/tm/shared/delete" "host01:$V" '42;rm' 0
refuse "tm: the wrong argument count" "expected 4 arguments" "$R/tm/shared/clone" "frontend:$IMG" "host01:$V/disk.1" 42
refuse "tm: an unknown action" "unknown transfer action 'bogus'" "$R/tm/shared/bogus" a b c d
refuse "tm: delete of the datastore root" "is not a disk of VM 42" "$R/tm/shared/delete" "host01:$DS/0" 42 0
refuse "tm: delete of /" "is not a disk of VM 42" "$R/tm/shared/delete" "host01:/" 42 0
rm -f "$R/tm/shared/bogus"
