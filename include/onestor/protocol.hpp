// The driver protocol: everything oned reads from a driver and everything a driver reads
// from oned beyond its argv words, in one place. Result lines (SOURCE [FORMAT], a size,
// USED_MB/TOTAL_MB/FREE_MB, the per-VM disk usage lines), the error block, and which input
// arrives on stdin rather than in argv. Backends return values (MonitorResult, DsResult);
// only this module turns them into text.
//
// Releases differ in some of these forms. A Profile names the form of each; main picks it
// once (remotes/VERSION beside the binary, or PROTOCOL): the differences between releases
// are tabled at the top of protocol.cpp and decided in profile_of_release(), nothing elsewhere.
#pragma once
#include <optional>
#include <string>
#include <vector>

namespace onestor::protocol {

// ---- forms -------------------------------------------------------------------------------

enum class ErrorForm {
    Markers,     // "ERROR MESSAGE --8<------\n<msg>\nERROR MESSAGE ------>8--" (<= 6.0)
    PlainFirst,  // "<msg>" alone, before any log line: 6.2 .. 6.10 take all of stderr as the reason
    Plain,       // "<msg>" alone, after the log lines: 7.x takes the lines that are not log lines
};

enum class VmLineForm {
    Poll,     // VM=[ID=n,POLL="DISK_SIZE=[ID=d,SIZE=mb] SNAPSHOT_SIZE=[...] "] (in band, <= 5.10)
    Monitor,  // VM = [ ID = n, MONITOR = "<base64 of the same text>" ] (5.12+, and the host probe's form)
};

// A caller profile: the release family (5.x, 6.x, 7.x) and the release whose forms it
// follows (two forms changed inside a family: VM lines at 5.12, the error at 6.2).
struct Profile {
    std::string name = "5";        // the family: "5", "6", "7"
    int major = 5, minor = 10;     // the release whose forms these are
    std::string origin;            // how it was chosen (onestor --version)
    bool source_format = false;    // cp/clone print "SOURCE FORMAT" (6.0+) instead of "SOURCE"
    bool clone_to_driver = false;  // DS clone converts to the datastore's DRIVER, oned records it (6.6+)
    // Live migration with local disks, the VMM copying them: tm/ssh pre/postmigrate remove
    // the copy not used (6.0+); postmigrate removes the previous system datastore's VM
    // directory after a storage live migration (7.2+).
    bool migrate_local_disks = false, storage_migration = false;
    ErrorForm error = ErrorForm::Markers;
    VmLineForm monitor_vms = VmLineForm::Poll;   // TM monitor, run through the DS driver
    VmLineForm probe_vms = VmLineForm::Monitor;  // monitor_ds, the probe run on the host
    std::string describe() const;                // "6.x (6.10 forms)"
};

// The forms of release major.minor; nullopt outside the families we know (5.x, 6.x, 7.x).
std::optional<Profile> profile_of_release(int major, int minor);
// A remotes/VERSION text ("6.10.0", "6.10"; a first line) -> its profile; nullopt if garbage.
std::optional<Profile> profile_of_version(const std::string& text);
// For a PROTOCOL value: "5" (the seed's 5.10 forms; also ""), "6" (6.10), "7" (7.4) or a
// release "X.Y[.Z]"; anything else is refused (DriverError).
Profile profile_named(const std::string& name);

// The call's shape, for the fallback: a DS action (or tm monitor) given its dump on argv
// comes from a release before 6.8.
enum class Shape { Unknown, DumpOnArgv, DumpOnStdin };
struct Detection {
    Profile profile;
    std::string note;  // non-empty: the fallback was taken; main prints it as one INFO line
};
// PROTOCOL `setting` ("" = detect) wins; then the first remotes/VERSION found in `remotes_dirs`;
// unreadable or unknown: the newest profile a call of this shape allows.
Detection detect(const std::string& setting, const std::vector<std::string>& remotes_dirs, Shape shape);
// The remotes trees a program path implies: .../remotes/tm/shared/clone -> .../remotes; the
// binary's own directory (.../remotes/onestor -> .../remotes; /var/tmp/one/onestor on a host).
std::vector<std::string> remotes_dirs_of(const std::string& argv0, const std::string& self_exe);

// The profile of this run, chosen once by main (detect); the seed's 5.x before that.
Profile& current_profile();
inline Profile profile() { return current_profile(); }

// ---- results (stdout) ----------------------------------------------------------------------

// Disk usage of one VM: its disks and their snapshots, in the order they are listed.
struct VmDiskUsage {
    struct Entry {
        std::string snap_id;  // empty: the disk itself
        long disk_id = -1;
        unsigned long long mb = 0;
    };
    std::string vm_id;
    std::vector<Entry> entries;
    void disk(long id, unsigned long long mb) { entries.push_back({"", id, mb}); }
    void snapshot(const std::string& snap, long disk_id, unsigned long long mb) { entries.push_back({snap, disk_id, mb}); }
};

struct MonitorResult {
    unsigned long long used_mb = 0, total_mb = 0, free_mb = 0;
    std::vector<VmDiskUsage> vms;  // per-VM disk usage (system datastores), when asked for
};

// "SOURCE\n", or "SOURCE FORMAT\n" when the profile says so and the format is known.
std::string source_line(const std::string& source, const std::string& format, const Profile& p);
// export's answer: <IMPORT_INFO> with IMPORT_SOURCE, MD5, SIZE, FORMAT, DISPOSE=NO (one line).
std::string import_info(const std::string& source, const std::string& md5, long size_mb, const std::string& format);
// A bare number line (stat's MiB).
std::string number_line(unsigned long long n);
// USED_MB=, TOTAL_MB=, FREE_MB= lines, then one line per VM in `form`.
std::string monitor_lines(const MonitorResult& m, VmLineForm form);
// "DISK_SIZE=[ID=d,SIZE=mb] SNAPSHOT_SIZE=[ID=s,DISK_ID=d,SIZE=mb] ..." (each item ends in a space).
std::string poll_text(const VmDiskUsage& u);
std::string vm_line(const VmDiskUsage& u, VmLineForm form);

// ---- errors (stderr) -----------------------------------------------------------------------

inline constexpr const char* kErrorBegin = "ERROR MESSAGE --8<------";
inline constexpr const char* kErrorEnd = "ERROR MESSAGE ------>8--";

// The error text oned reads for a one-line reason (newlines in `msg` become spaces).
std::string error_block(const std::string& msg, ErrorForm form);
// For the fixed shell scripts that report a failure to us (always the marker form, which
// first_error_block reads): a printf(1) format with one %s, quoted for sh.
std::string shell_error_printf();
// The message of the first marker block in a program's stderr, if there is one.
std::optional<std::string> first_error_block(const std::string& err);

// ---- input (stdin vs argv) -----------------------------------------------------------------

// The 6.8+ DS form "ID" with the dump on stdin: the whole of stdin, refused when blank.
std::string read_action_data();

// pre/postmigrate's optional words after DSID: the VM template (base64, argv in <= 5.8,
// stdin in 5.10+) and the TM that called us through migrate_other.
struct MigrateInput {
    std::string template_b64;
    std::optional<std::string> caller_tm;  // the first other word, unchecked: the caller validates it
};
// `extra`: the words after DSID. Without a template among them, stdin (when it is not a
// terminal) holds it.
MigrateInput migrate_input(const std::vector<std::string>& extra);

}  // namespace onestor::protocol
