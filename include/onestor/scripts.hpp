// The fixed shell scripts (src/exec/scripts.cpp), the only shell text onestor runs. Each is
// run as {"sh", "-c", <script>, "sh", args...}: inputs are positional arguments only.
#pragma once
#include <string>

namespace onestor::scripts {

extern const char* const kTiedToDriver;     // "$@" in a session of its own, ended when the driver goes
extern const char* const kExists;           // $1: "y" when it exists (or is a dangling link); never fails
extern const char* const kListIfThere;      // "$@" a find of $2: nothing when $2 is missing
extern const char* const kRealpath;         // $1: its canonical path, or nothing; never fails
extern const char* const kSizeIs;           // $1 file, $2 bytes: fails "incomplete" unless that long
extern const char* const kCatRegular;       // $1: its bytes, only when a regular file
extern const char* const kDoctorProbe;      // $1 ds location, $2 REMOTE_ONESTOR, $3 n, n tools, sudo words
extern const char* const kExitStatus;       // "$@" quietly: nothing, or "exit N"
extern const char* const kAnswer;           // "$@": its output, or "\nexit N\n" and its complaint; never fails
extern const char* const kQuiesced;         // $1 n, n virsh words, a domain, then "$@" run frozen (or suspended)
extern const char* const kLayerIds;         // $1 dir, $2 path, files: "DEV:INO NAME" per layer, "file ..", "target .."
extern const char* const kAnswerUnwatched;  // $1 s, then "$@" an rbd rm: as kAnswer, retried while a watcher holds it
extern const char* const kMd5Of;            // "$@": the MD5 of its output, failing with it
extern const char* const kPreallocate;      // $1 a file: all of its size allocated (thick)
extern const char* const kSweep;            // $1 onestor, $2 path: `onestor sweep` where installed
extern const char* const kLimited;          // $1 KiB, $2 CPU s, then "$@" under those limits
extern const char* const kSizeAndHead;      // $1: size line, then the first 64 KiB of a regular file
extern const char* const kMonitorMark;      // $1 marker, $2 value, then "$@": .monitor written if it differs
extern const char* const kWriteLine;        // $1 line, $2 file
extern const char* const kCopyKeeper;       // $1 VM dir, $2 token: "present" + its disk names, or "absent"
extern const char* const kCopyDrop;         // $1 VM dir, $2 token, $3 all|any, then the keeper's disk names
extern const char* const kTarCommit;        // $1 temp dir, $2 name inside, $3 target
extern const char* const kRetire;           // $1 source, $2 its hidden temporary name: rename, remove
extern const char* const kLayerHeaders;     // $1 dir, $2 layer 0's format, then `qemu-img info ... -f`: each layer's header
const std::string& tar_receive();           // $1 temp dir, $2 target (tar on stdin)
const std::string& push();                  // $1 destination, $2 SSH_CONTROL_PERSIST, $3 command, then ssh

}  // namespace onestor::scripts
