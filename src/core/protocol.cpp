#include "onestor/protocol.hpp"

#include "onestor/config.hpp"
#include "onestor/error.hpp"
#include "onestor/io.hpp"
#include "onestor/xml.hpp"

#include <unistd.h>

namespace onestor::protocol {

Profile profile_named(const std::string& name) {
    if (name == "6") return {.name = "6", .source_format = true, .error = ErrorForm::Plain};
    return {.name = "5"};
}

Profile profile() { return profile_named(config().get("PROTOCOL")); }

std::string source_line(const std::string& source, const std::string& format, const Profile& p) {
    return p.source_format && !format.empty() ? source + " " + format + "\n" : source + "\n";
}

std::string number_line(unsigned long long n) { return std::to_string(n) + "\n"; }

std::string poll_text(const VmDiskUsage& u) {
    std::string s;
    for (const auto& e : u.entries) {
        if (e.snap_id.empty())
            s += "DISK_SIZE=[ID=" + std::to_string(e.disk_id) + ",SIZE=" + std::to_string(e.mb) + "] ";
        else
            s += "SNAPSHOT_SIZE=[ID=" + e.snap_id + ",DISK_ID=" + std::to_string(e.disk_id) +
                 ",SIZE=" + std::to_string(e.mb) + "] ";
    }
    return s;
}

std::string vm_line(const VmDiskUsage& u, VmLineForm form) {
    if (form == VmLineForm::Monitor) return "VM = [ ID = " + u.vm_id + ", MONITOR = \"" + base64_encode(poll_text(u)) + "\" ]";
    return "VM=[ID=" + u.vm_id + ",POLL=\"" + poll_text(u) + "\"]";
}

std::string monitor_lines(const MonitorResult& m, VmLineForm form) {
    std::string s = "USED_MB=" + std::to_string(m.used_mb) + "\nTOTAL_MB=" + std::to_string(m.total_mb) +
                    "\nFREE_MB=" + std::to_string(m.free_mb) + "\n";
    for (const auto& vm : m.vms) s += vm_line(vm, form) + "\n";
    return s;
}

std::string error_block(const std::string& msg, ErrorForm form) {
    std::string one = msg;
    for (auto& c : one)
        if (c == '\n' || c == '\r') c = ' ';
    if (form == ErrorForm::Plain) return one + "\n";
    return std::string(kErrorBegin) + "\n" + one + "\n" + kErrorEnd + "\n";
}

std::string shell_error_printf() { return std::string("'") + kErrorBegin + "\\n%s\\n" + kErrorEnd + "\\n'"; }

std::optional<std::string> first_error_block(const std::string& err) {
    // The first block: in a pipeline the side that failed first names the cause (a full
    // disk), the other only its echo (a broken pipe).
    const std::string marker = std::string(kErrorBegin) + "\n";
    auto m = err.find(marker);
    if (m == std::string::npos) return std::nullopt;
    auto b = m + marker.size();
    auto e = err.find('\n', b);
    return err.substr(b, e == std::string::npos ? std::string::npos : e - b);
}

std::string read_action_data() {
    std::string s = io::read_capped(0, io::kMaxStdin, "the action data on stdin");
    if (s.find_first_not_of(" \n\r\t") == std::string::npos) throw DriverError("the action data is empty (expected on stdin)");
    return s;
}

namespace {

bool looks_like_template(const std::string& w) {
    if (w.size() < 16) return false;
    try {
        return base64_decode(w).find("<VM") != std::string::npos;
    } catch (...) {
        return false;
    }
}

}  // namespace

MigrateInput migrate_input(const std::vector<std::string>& extra) {
    MigrateInput in;
    for (const auto& w : extra) {
        if (in.template_b64.empty() && looks_like_template(w))
            in.template_b64 = w;
        else if (!in.caller_tm)
            in.caller_tm = w;
    }
    if (in.template_b64.empty() && !isatty(0)) {
        std::string s = io::read_capped(0, io::kMaxStdin, "the VM template on stdin");
        while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
        in.template_b64 = s;
    }
    return in;
}

}  // namespace onestor::protocol
