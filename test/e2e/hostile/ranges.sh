# Hostile numbers and input hygiene (issue 9, items 8 and 12), sourced by test_hostile.sh:
# numbers beyond what they mean, "&#0;" in a field, an oversized stdin document, pseudo
# files and empty files to import, a FIFO or a file outside the datastores to clone.
RFSD=$R/datastore/fs
# A dump whose decoded XML has SED applied (fields ds_dump would escape): rdump SED KEY=VALUE...
rdump() { local s=$1; shift; ds_dump "$@" | base64 -d | sed -e "$s" | base64 -w0; }
printf '' >"$T/empty.raw"
head -c 1M /dev/urandom >"$T/one.raw"
mkfifo "$DS/1/ranges.fifo"
head -c 17M /dev/zero | base64 -w0 >"$T/big17.b64"  # 17 MiB of base64 (22 MiB of text)
ln -s "$CANARY" "$DS/1/ranges.link"
hostile_mark

# 2^44 + 1 MiB: << 20 wraps to 2^64 + 2^20, a 1 MiB image (exit 0) before.
refuse "mkfs: SIZE=2^44+1 MiB" "field SIZE must be an integer from 0 to 1099511627776" \
    "$RFSD/mkfs" "$(ds_dump FSTYPE=raw SIZE=17592186044417)" 9
refuse "mkfs: SIZE=2^40+1 MiB (one past 1 EiB)" "field SIZE must be an integer" \
    "$RFSD/mkfs" "$(ds_dump FSTYPE=raw SIZE=1099511627777)" 9
refuse "mkfs: SIZE=' 64' (whitespace)" "field SIZE must be an integer" "$RFSD/mkfs" "$(ds_dump FSTYPE=raw SIZE=' 64')" 9
refuse "mkfs: SIZE=0x40 (hex)" "field SIZE must be an integer" "$RFSD/mkfs" "$(ds_dump FSTYPE=raw SIZE=0x40)" 9
# 2^32 + 1: narrowed to int it read 1, CDROM (never converted), and the copy was made.
refuse "cp: TYPE=4294967297" "field TYPE must be an integer from 0 to 6" \
    "$RFSD/cp" "$(ds_dump PATH="$T/one.raw" TYPE=4294967297)" 7
refuse "mkfs: image id 2^32+9 (argv)" "id must be an integer from 0 to 2147483647" \
    "$RFSD/mkfs" "$(ds_dump FSTYPE=raw SIZE=1)" 4294967305
refuse "tm resize: size 2^44+1 MiB (argv)" "size must be an integer from 1 to 1099511627776" \
    "$R/tm/shared/resize" "host01:$DS/0/42/disk.0" 17592186044417 42 0
refuse "tm delete: vmid 2^32+42 (argv)" "vmid must be an integer" "$R/tm/shared/delete" "host01:$DS/0/42" 4294967338 0
# "&#0;" ended the field where it stood: FSTYPE read as "raw", an image was made (exit 0).
refuse "mkfs: '&#0;' in FSTYPE" "character reference '&#0;' is not an XML character" \
    "$RFSD/mkfs" "$(rdump 's|<FSTYPE>raw</FSTYPE>|<FSTYPE>raw\&#0;/../../x</FSTYPE>|' FSTYPE=raw SIZE=1)" 9
refuse "mkfs: '&#x1b;' in a TEMPLATE field" "is not an XML character" \
    "$RFSD/mkfs" "$(rdump 's|<DEV_PREFIX>|<DEV_PREFIX>\&#x1b;|' FSTYPE=raw SIZE=1)" 9
# The 6.8+ form reads the dump from stdin: more than 16 MiB is refused unread (a 67 MB dump took 34 s).
start=$(date +%s%N)
HOSTILE_STDIN=$T/big17.b64 refuse "cp: a 22 MiB dump on stdin" "the action data on stdin is larger than 16 MiB" "$RFSD/cp" 7
ms=$((($(date +%s%N) - start) / 1000000))
check "cp: the oversized stdin dump is refused fast (${ms} ms < 3000)" test "$ms" -lt 3000
HOSTILE_STDIN=$T/big17.b64 refuse "premigrate: a 22 MiB VM template on stdin" \
    "the VM template on stdin is larger than 16 MiB" "$R/tm/shared/premigrate" host01 host02 "$DS/0/42" 42 0
# Files whose size is not their content, or nothing to import.
refuse "cp: /proc/self/status (procfs: st_size 0)" "kernel pseudo filesystem" "$RFSD/cp" "$(ds_dump PATH=/proc/self/status)" 7
refuse "cp: an empty file" "is empty" "$RFSD/cp" "$(ds_dump PATH="$T/empty.raw")" 7
# clone: a FIFO blocked the open (for ever); a file outside the datastores was copied in.
refuse "clone: a FIFO in the datastore (no hang)" "not a regular file" timeout 20 "$RFSD/clone" "$(ds_dump PATH="$DS/1/ranges.fifo")" 8
refuse "clone: a file outside the datastores" "is not inside the datastores" "$RFSD/clone" "$(ds_dump PATH="$CANARY/one_auth")" 8
refuse "clone: /proc/self/status" "is not inside the datastores" "$RFSD/clone" "$(ds_dump PATH=/proc/self/status)" 8
refuse "clone: through a link inside the datastore leading out" "is not inside the datastores" \
    "$RFSD/clone" "$(ds_dump PATH="$DS/1/ranges.link/one_auth")" 8
rm -f "$DS/1/ranges.fifo" "$DS/1/ranges.link" "$T/big17.b64" "$T/one.raw" "$T/empty.raw"
