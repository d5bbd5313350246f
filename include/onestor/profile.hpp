// Caller profiles: which OpenNebula release runs us, and so which forms oned reads from our
// stdout/stderr (see the table at the top of src/core/profile.cpp). Detected, not configured:
// remotes/VERSION beside the binary, PROTOCOL in the settings overrides it.
#pragma once
#include <optional>
#include <string>
#include <vector>

namespace onestor::profile {

struct Profile {
    int major = 7, minor = 4;  // the release whose forms we follow
    std::string origin;        // how it was chosen (printed by --version)

    bool at_least(int ma, int mi) const { return major > ma || (major == ma && minor >= mi); }
    std::string family() const { return std::to_string(major) + ".x"; }
    std::string name() const { return family() + " (" + std::to_string(major) + "." + std::to_string(minor) + " forms)"; }

    bool source_format() const { return at_least(6, 0); }  // cp/clone print "SOURCE FORMAT"
    bool plain_error() const { return at_least(6, 2); }    // no ERROR MESSAGE markers
    bool reason_is_all_stderr() const { return plain_error() && !at_least(7, 0); }  // 6.2-6.10
    bool monitor_base64() const { return at_least(5, 12); }  // VM=[ID,MONITOR="b64"] vs POLL="..."
};

// "6.10.0" (or "6.10", with any trailing text after a blank) -> the profile of that release's
// family; nullopt when not a version of a family we know (5.x, 6.x, 7.x).
std::optional<Profile> from_version(const std::string& text);
// PROTOCOL setting: "5" (the seed: 5.10 forms), "6" (6.10), "7" (7.4) or a release "X.Y[.Z]".
std::optional<Profile> from_setting(const std::string& value);

// The call's shape, for the fallback: a DS action (or tm monitor) given its dump on argv was
// made by a release before 6.8.
enum class Shape { Unknown, DumpOnArgv, DumpOnStdin };

struct Detection {
    Profile profile;
    std::string note;  // non-empty: one INFO line to print (the fallback was taken)
};
// setting: the PROTOCOL value ("" = detect); remotes_dirs: where to look for VERSION, in order.
Detection detect(const std::string& setting, const std::vector<std::string>& remotes_dirs, Shape shape);
// The remotes directories a program path implies: .../remotes/tm/shared/clone -> .../remotes;
// a binary .../remotes/onestor -> .../remotes.
std::vector<std::string> remotes_dirs_of(const std::string& argv0, const std::string& self_exe);

// The process-wide profile, set once by main (tests may replace it).
Profile& current();

// One VM's disk-usage line of a monitor output; `usage` is "DISK_SIZE=[ID=d,SIZE=mb] ...".
std::string vm_monitor_line(const std::string& vmid, const std::string& usage);
// What goes to stderr for a failed action (the one-line reason plus detail lines).
std::string error_text(const std::string& reason, const std::string& detail, const std::string& action);

}  // namespace onestor::profile
