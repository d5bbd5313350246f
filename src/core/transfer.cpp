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
    "set -e; t=$1; d=$2; n=$3; mkdir -p -- \"${d%/*}\"; mkdir -- \"$t\"; trap 'rm -rf -- \"$t\" \"$t.old\"' EXIT; "
    "tar -C \"$t\" -xSf -; test -e \"$t/$n\" || test -L \"$t/$n\"; sync -f -- \"$t\"; "
    "if [ -d \"$d\" ] && [ ! -L \"$d\" ]; then mv -T -- \"$d\" \"$t.old\"; mv -T -- \"$t/$n\" \"$d\"; "
    "else mv -fT -- \"$t/$n\" \"$d\"; fi";

}  // namespace

namespace {

Argv tar_producer(const std::string& src) { return {"tar", "-C", dirname_of(src), "-cSf", "-", "--", basename_of(src)}; }

Argv tar_consumer(const std::string& src, const std::string& dst) {
    std::string tmp = join_path(dirname_of(dst), "." + basename_of(dst) + ".onestor-tmp.tar");
    return {"sh", "-c", kTarReceive, "sh", tmp, dst, basename_of(src)};
}

// Runs producer on `from` into consumer on `to`.
void pipe(Host& from, const Argv& producer, Host& to, const Argv& consumer, const RunOptions& o) {
    if (&from == &to) {
        from.run_pipe(producer, consumer, o);
    } else if (!from.local() && !to.local() && config().get("HOST_TO_HOST") == "direct") {
        // The source host pushes straight to the destination: the bytes cross the network
        // once, and the front-end needs no connection to the destination at all.
        Argv push = config().get_words("HOST_SSH");
        push.insert(push.end(), {"-o", "BatchMode=yes", to.name(), "--", shell_join(consumer)});
        from.run_pipe(producer, push, o);
    } else {
        run_pipe(from.command(producer), to.command(consumer), o);
    }
}

}  // namespace

void copy(Host& from, const std::string& src, Host& to, const std::string& dst) {
    std::string what = "cannot copy " + quoted(from.label(src)) + " to " + quoted(to.label(dst));
    RunOptions o{.timeout_s = static_cast<int>(config().get_int("COPY_TIMEOUT")), .what = what};
    log::info("transferring " + quoted(from.label(src)) + " to " + quoted(to.label(dst)));
    if (from.has_onestor()) {
        // onestor travels with the remotes tree to every host: assume it is on the
        // destination too, and only when that fails ask (the question costs a connection).
        Argv producer = from.onestor({"send", src});
        if (std::string rate = config().get("LIMIT_TRANSFER_BW"); !rate.empty()) producer.push_back(rate);
        try {
            pipe(from, producer, to, to.onestor({"receive", dst}), o);
            return;
        } catch (const DriverError&) {
            if (to.has_onestor()) throw;
        }
    }
    log::info("onestor is not installed on " + (from.has_onestor() ? to.name() : from.name()) +
              ": falling back to tar -S (no end-to-end checksum)");
    pipe(from, tar_producer(src), to, tar_consumer(src, dst), o);
}

}  // namespace onestor::transfer
