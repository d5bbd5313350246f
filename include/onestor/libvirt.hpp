// libvirt, through virsh on a Host (settings VIRSH and LIBVIRT_URI): what the live actions
// need of a running domain. Every argument is an argv word, never shell text.
#pragma once
#include "onestor/host.hpp"

#include <initializer_list>
#include <string>

namespace onestor::libvirt {

// virsh -c LIBVIRT_URI <args>
Argv virsh(std::initializer_list<std::string> args);

// Freezes the guest's filesystems through its agent, or suspends the domain when no agent
// answers; thaws / resumes when it goes out of scope, on every path (after SIGTERM too).
class Quiesce {
public:
    Quiesce(Host& h, std::string domain);
    ~Quiesce();
    Quiesce(const Quiesce&) = delete;
    Quiesce& operator=(const Quiesce&) = delete;

private:
    Host& h_;
    std::string domain_, mode_;
};

// The step that runs `command` on h with the domain quiesced around it alone, in the same
// round trip (kQuiesced): frozen through its guest agent, or suspended without one, and
// thawed / resumed on every path, the driver killed included. `what`: its failure's reason.
Step quiesced_step(Host& h, const std::string& domain, const Argv& command, const std::string& what, int timeout_s);
// Held around a batch with a quiesced_step: should the batch not complete (it failed, or
// the driver was stopped), the domain is thawed and resumed from here as well, as the
// step's own trap may not have run (a local step's process group is killed 1 s after its
// TERM). A resume of a running domain fails harmlessly. done(): the batch completed.
class QuiescedBatch {
public:
    QuiescedBatch(Host& h, std::string domain) : h_(h), domain_(std::move(domain)) {}
    ~QuiescedBatch();
    QuiescedBatch(const QuiescedBatch&) = delete;
    QuiescedBatch& operator=(const QuiescedBatch&) = delete;
    void done() { done_ = true; }

private:
    Host& h_;
    std::string domain_;
    bool done_ = false;
};
// Logs how the step's domain was quiesced, from its output (suspended: it has no agent).
void log_quiesced(const std::string& output, const std::string& domain);

// A running domain's disk `target` (the file `path`, read as `format`) copied to `out` on h,
// as `out_format`: libvirt's blockcopy, the domain keeping its disk (no pivot); when libvirt
// refuses, a qemu-img convert with the domain quiesced. `out` is the caller's temporary.
void live_copy(Host& h, const std::string& domain, const std::string& target, const std::string& path, const std::string& format,
               const std::string& out_format, const std::string& out);

}  // namespace onestor::libvirt
