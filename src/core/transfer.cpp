#include "onestor/transfer.hpp"

#include "onestor/config.hpp"
#include "onestor/error.hpp"
#include "onestor/log.hpp"
#include "onestor/paths.hpp"

namespace onestor::transfer {
namespace {

// The receiving end of the tar fallback. A constant script: every input arrives as a
// positional argument ($1 temp dir, $2 target, $3 the name inside the archive), never
// inside the script text.
const char* kTarReceive =
    "set -e; t=$1; d=$2; n=$3; mkdir -- \"$t\"; trap 'rm -rf -- \"$t\" \"$t.old\"' EXIT; "
    "tar -C \"$t\" -xSf -; test -e \"$t/$n\" || test -L \"$t/$n\"; sync -f -- \"$t\"; "
    "if [ -d \"$d\" ] && [ ! -L \"$d\" ]; then mv -T -- \"$d\" \"$t.old\"; mv -T -- \"$t/$n\" \"$d\"; "
    "else mv -fT -- \"$t/$n\" \"$d\"; fi";

}  // namespace

void copy(Host& from, const std::string& src, Host& to, const std::string& dst) {
    std::string what = "cannot copy " + quoted(from.label(src)) + " to " + quoted(to.label(dst));
    bool streams = from.has_onestor() && to.has_onestor();
    std::string rate = config().get("LIMIT_TRANSFER_BW");
    Argv producer, consumer;
    if (streams) {
        producer = from.onestor({"send", src});
        if (!rate.empty()) producer.push_back(rate);
        consumer = to.onestor({"receive", dst});
    } else {
        log::info("onestor is not installed on " + (from.has_onestor() ? to.name() : from.name()) +
                  ": falling back to tar -S (no end-to-end checksum)");
        producer = {"tar", "-C", dirname_of(src), "-cSf", "-", "--", basename_of(src)};
        std::string tmp = join_path(dirname_of(dst), "." + basename_of(dst) + ".onestor-tmp.tar");
        consumer = {"sh", "-c", kTarReceive, "sh", tmp, dst, basename_of(src)};
    }
    RunOptions o{.timeout_s = static_cast<int>(config().get_int("COPY_TIMEOUT")), .what = what};
    log::info("transferring " + quoted(from.label(src)) + " to " + quoted(to.label(dst)));
    if (&from == &to) {
        from.run_pipe(producer, consumer, o);
    } else if (!from.local() && !to.local() && config().get("HOST_TO_HOST") == "direct") {
        // The source host pushes straight to the destination: the bytes cross the network once.
        Argv push = config().get_words("HOST_SSH");
        push.insert(push.end(), {"-o", "BatchMode=yes", to.name(), "--", shell_join(consumer)});
        from.run_pipe(producer, push, o);
    } else {
        run_pipe(from.command(producer), to.command(consumer), o);
    }
}

}  // namespace onestor::transfer
