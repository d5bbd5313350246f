#include "onestor/libvirt.hpp"

#include "onestor/config.hpp"
#include "onestor/error.hpp"
#include "onestor/log.hpp"
#include "onestor/qemu.hpp"
#include "onestor/scripts.hpp"

namespace onestor::libvirt {

Argv virsh(std::initializer_list<std::string> args) {
    Argv a = config().get_words("VIRSH");
    a.insert(a.end(), {"-c", config().get("LIBVIRT_URI")});
    a.insert(a.end(), args);
    return a;
}

Quiesce::Quiesce(Host& h, std::string domain) : h_(h), domain_(std::move(domain)) {
    if (domain_.empty()) throw DriverError("the VM has no DEPLOY_ID: no domain to quiesce");
    // (--domain: a name that starts with '-' stays a name)
    if (h_.run(virsh({"domfsfreeze", "--domain", domain_}), {.timeout_s = 30, .check = false}).status == 0) {
        mode_ = "thaw";
    } else {
        h_.run(virsh({"suspend", "--domain", domain_}), {.timeout_s = 30, .what = "cannot suspend domain " + quoted(domain_)});
        mode_ = "resume";
        log::info("no guest agent: domain " + domain_ + " suspended for the snapshot");
    }
}

namespace {
// A thaw even after a freeze that failed or timed out: the agent may still have frozen the
// file systems (a thaw of thawed ones does nothing); then, with `resume`, the resume of a
// suspend. Runs after SIGTERM too.
void release(Host& h, const std::string& domain, bool resume) {
    for (const char* verb : {"domfsthaw", "resume"}) {
        if (std::string(verb) == "resume" && !resume) break;
        try {
            h.run(virsh({verb, "--domain", domain}), {.timeout_s = 30, .check = false, .cleanup = true});
        } catch (...) {}
    }
}
}  // namespace

Quiesce::~Quiesce() { release(h_, domain_, mode_ == "resume"); }

QuiescedBatch::~QuiescedBatch() {
    if (!done_) release(h_, domain_, true);
}

Step quiesced_step(Host& h, const std::string& domain, const Argv& command, const std::string& what, int timeout_s) {
    if (domain.empty()) throw DriverError("the VM has no DEPLOY_ID: no domain to quiesce");
    Argv v = virsh({});
    Argv a = {"sh", "-c", scripts::kQuiesced, "sh", std::to_string(v.size())};
    a.insert(a.end(), v.begin(), v.end());
    a.push_back(domain);
    a.insert(a.end(), command.begin(), command.end());
    return h.run_step(a, what, timeout_s + 4 * 30);  // (4 virsh calls of at most 30 s: freeze, suspend, thaw, resume)
}

void log_quiesced(const std::string& output, const std::string& domain) {
    if (output == "suspended\n") log::info("no guest agent: domain " + domain + " suspended for the snapshot");
}

void live_copy(Host& h, const std::string& domain, const std::string& target, const std::string& path, const std::string& format,
               const std::string& out_format, const std::string& out) {
    int timeout = static_cast<int>(config().get_int("COPY_TIMEOUT"));
    Result r = h.run(virsh({"blockcopy", "--domain", domain, "--path", target, "--dest", out, "--format", out_format, "--wait",
                            "--finish", "--transient-job"}),
                     {.timeout_s = timeout, .check = false});
    if (r.status == 0) {
        log::info("copied the running disk " + quoted(h.label(path)) + " with virsh blockcopy");
        return;
    }
    log::info("blockcopy failed (" + failure_reason(r.err) + "): copying with the domain quiesced");
    // A copy job left running (virsh timed out) would keep writing to `out`: end it first.
    h.run(virsh({"blockjob", "--domain", domain, "--path", target, "--abort"}),
          {.timeout_s = 60, .check = false, .cleanup = true});
    h.remove(out);
    Quiesce q(h, domain);
    Argv a = config().get_words("QEMU_IMG");
    a.insert(a.end(), {"convert", "-q", "-U", "-f", format, "-O", out_format, path, out});
    h.run(a,
          {.timeout_s = timeout, .what = "cannot copy the running disk " + quoted(h.label(path)), .limits = qemu::data_limits()});
}

}  // namespace onestor::libvirt
