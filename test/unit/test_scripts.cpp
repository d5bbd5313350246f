// The fixed shell scripts of scripts.cpp that answer questions or check a result, run by a
// real /bin/sh (dash on Debian) as a host runs them: with hostile file names as their
// positional arguments (nothing in a name is ever run) and their answers and exit statuses
// asserted, failures included.
#include "scratch.hpp"

#include "onestor/error.hpp"
#include "onestor/exec.hpp"
#include "onestor/qemu.hpp"
#include "onestor/scripts.hpp"

#include <doctest/doctest.h>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <csignal>
#include <filesystem>
#include <fstream>

using namespace onestor;
namespace fs = std::filesystem;

namespace {

Result sh(const char* script, const Argv& args) {
    Argv a = {"sh", "-c", script, "sh"};
    a.insert(a.end(), args.begin(), args.end());
    return spawn(a, {.timeout_s = 30, .check = false});
}

// Names that would run something (touch a canary in the working directory), or be read as
// options, were they ever shell text.
std::vector<std::string> hostile_names() {
    return {"$(touch PWNED)", "`touch PWNED`", "; touch PWNED", "-rf", "with space", "it's", "*", "a\nb"};
}

// The working directory is `dir` while it lives (a canary of a hostile word lands there).
class InDir {
public:
    explicit InDir(const fs::path& dir) : back_(fs::current_path()) { fs::current_path(dir); }
    ~InDir() { fs::current_path(back_); }
    InDir(const InDir&) = delete;

private:
    fs::path back_;
};

}  // namespace

TEST_CASE("fixed scripts: existence, canonical path, size, contents, exit status, with hostile names") {
    scratch::Dir d;
    InDir here(d.p);  // (where a run canary would land)
    for (const auto& name : hostile_names()) {
        CAPTURE(name);
        std::string f = d / name;
        std::ofstream(f, std::ios::binary) << "abc";
        // kExists: "y" for a file and a dangling link, nothing for a missing path; never fails.
        CHECK(sh(scripts::kExists, {f}).out == "y\n");
        CHECK(sh(scripts::kExists, {f + ".missing"}).out.empty());
        CHECK(sh(scripts::kExists, {f + ".missing"}).status == 0);
        fs::create_symlink(d / "nowhere", f + ".link");
        CHECK(sh(scripts::kExists, {f + ".link"}).out == "y\n");
        // kRealpath: the canonical path, or nothing (status 0) for what does not resolve.
        CHECK(sh(scripts::kRealpath, {f}).out == fs::canonical(f).string() + "\n");
        Result dangling = sh(scripts::kRealpath, {f + ".link"});
        CHECK(dangling.out.empty());
        CHECK(dangling.status == 0);
        // kSizeIs: passes at the exact size only.
        CHECK(sh(scripts::kSizeIs, {f, "3"}).status == 0);
        Result short_one = sh(scripts::kSizeIs, {f, "4"});
        CHECK(short_one.status != 0);
        CHECK(short_one.err.find("incomplete") != std::string::npos);
        // kCatRegular: a regular file's bytes; a FIFO refused at once (cat would block on it).
        CHECK(sh(scripts::kCatRegular, {f}).out == "abc");
        REQUIRE(::mkfifo((f + ".fifo").c_str(), 0600) == 0);
        Result fifo = sh(scripts::kCatRegular, {f + ".fifo"});
        CHECK(fifo.status != 0);
        CHECK(fifo.err.find("not a regular file") != std::string::npos);
        // kMd5Of: the output's MD5, failing when the command fails (not md5sum's status).
        CHECK(sh(scripts::kMd5Of, {"cat", "--", f}).out.substr(0, 32) == "900150983cd24fb0d6963f7d28e17f72");
        CHECK(sh(scripts::kMd5Of, {"cat", "--", f + ".missing"}).status != 0);
        // kPreallocate: every byte allocated, the data kept; a missing file fails.
        std::string sparse = f + ".sparse";
        { std::ofstream(sparse, std::ios::binary) << "xyz"; }
        fs::resize_file(sparse, 8 << 20);
        CHECK(sh(scripts::kPreallocate, {sparse}).status == 0);
        struct stat st {};
        REQUIRE(::stat(sparse.c_str(), &st) == 0);
        CHECK(st.st_size == (8 << 20));
        CHECK(static_cast<long long>(st.st_blocks) * 512 >= (8 << 20));
        CHECK(scratch::slurp(sparse).substr(0, 3) == "xyz");
        CHECK(sh(scripts::kPreallocate, {f + ".missing"}).status != 0);
        // kRetire: the source renamed aside and removed; a missing source fails.
        std::string aside = d / ("." + name + ".retired");
        CHECK(sh(scripts::kRetire, {sparse, aside}).status == 0);
        CHECK(!fs::exists(sparse));
        CHECK(!fs::exists(aside));
        CHECK(sh(scripts::kRetire, {sparse, aside}).status != 0);
        // kExitStatus: nothing for success, "exit N" for a failure.
        CHECK(sh(scripts::kExitStatus, {"true"}).out.empty());
        CHECK(sh(scripts::kExitStatus, {"sh", "-c", "exit 7"}).out == "exit 7\n");
        for (const char* extra : {".link", ".fifo"}) fs::remove(f + extra);
        fs::remove(f);
    }
    CHECK(!fs::exists(d / "PWNED"));  // no name ever ran as a command
}

TEST_CASE("layer headers: every numbered layer read in its declared format, in one run; nothing else read") {
    scratch::Dir d;
    fs::path dir = d.p / "disk.0.snap";
    fs::create_directories(dir);
    auto img = [](const Argv& a) { REQUIRE(spawn(a, {.timeout_s = 30, .check = false}).status == 0); };
    img({"qemu-img", "create", "-q", "-f", "raw", (dir / "0").string(), "1M"});
    img({"qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", "0", (dir / "1").string(), "1M"});
    img({"qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", "1", (dir / "12").string(), "1M"});
    img({"qemu-img", "create", "-q", "-f", "qcow2", (dir / ".3.onestor-tmp.T1").string(), "1M"});  // a temporary
    fs::create_directory_symlink(".", dir / "disk.0.snap");                                        // the self link
    { std::ofstream(dir / "-x7") << "not a layer"; }
    { std::ofstream(dir / "01") << "not a layer: a leading zero"; }
    { std::ofstream(dir / "1234567890") << "not a layer: more than 9 digits"; }
    Argv q = {"qemu-img", "info", "--output=json", "-U", "-f"};
    Argv a = {dir.string(), "raw"};
    a.insert(a.end(), q.begin(), q.end());
    Result r = sh(scripts::kLayerHeaders, a);
    REQUIRE(r.status == 0);
    auto layers = qemu::parse_layers(r.out);
    REQUIRE(layers.size() == 3);
    CHECK(layers.at(0).format == "raw");
    CHECK((layers.at(1).format == "qcow2" && layers.at(1).backing_file == "0" && layers.at(1).backing_format == "raw"));
    CHECK((layers.at(12).format == "qcow2" && layers.at(12).backing_file == "1"));
    // Layer 0 declared qcow2 while it is raw: the read fails, and so does the whole answer.
    a[1] = "qcow2";
    CHECK(sh(scripts::kLayerHeaders, a).status != 0);
    // An empty directory: no layers.
    fs::path empty = d.p / "empty";
    fs::create_directories(empty);
    a = {empty.string(), "raw"};
    a.insert(a.end(), q.begin(), q.end());
    r = sh(scripts::kLayerHeaders, a);
    CHECK((r.status == 0 && qemu::parse_layers(r.out).empty()));
    CHECK_THROWS_AS(qemu::parse_layers("1\n{}"), DriverError);          // no end mark
    CHECK_THROWS_AS(qemu::parse_layers("x\n{}\n\x1e\n"), DriverError);  // no layer name
}

TEST_CASE("a temporary volume's removal waits out a watcher, and only a watcher") {
    scratch::Dir d;
    // A stand-in for `rbd rm`: refused for a watcher until its attempts reach $2, then done;
    // a volume that is not there is refused at once.
    std::string tries = d / "tries";
    std::string rm =
        "n=$(($(cat \"$1\" 2>/dev/null || echo 0) + 1)); echo $n > \"$1\"; "
        "[ \"$3\" = missing ] && { echo 'rbd: error opening image: (2) No such file or directory' >&2; exit 2; }; "
        "[ $n -ge \"$2\" ] && exit 0; "
        "echo 'rbd: error: image still has watchers' >&2; exit 16";
    auto attempts = [&] {
        std::ifstream in(tries);
        int n = 0;
        in >> n;
        fs::remove(tries);
        return n;
    };
    Result r = sh(scripts::kAnswerUnwatched, {"4", "sh", "-c", rm, "rm", tries, "2", "x"});
    CHECK((r.status == 0 && r.out.empty() && attempts() == 2));  // refused once, removed 2 s later
    r = sh(scripts::kAnswerUnwatched, {"0", "sh", "-c", rm, "rm", tries, "2", "x"});
    CHECK((r.status == 0 && r.out == "\nexit 16\nrbd: error: image still has watchers\n" && attempts() == 1));
    r = sh(scripts::kAnswerUnwatched, {"40", "sh", "-c", rm, "rm", tries, "9", "missing"});
    CHECK(r.status == 0);
    CHECK(r.out.find("\nexit 2\n") == 0);  // another refusal: answered at once
    CHECK(attempts() == 1);
}

TEST_CASE("a quiesced command: frozen or suspended around it alone, thawed on every path, hostile words inert") {
    scratch::Dir d;
    InDir here(d.p);  // (where a run canary would land)
    std::string log = d / "calls";
    // A stand-in for virsh (its words: sh -c <script> virsh <log>): logs each call; a verb
    // listed in <log>.fails fails.
    std::string virsh =
        "echo \"$2 $4\" >> \"$1\"; grep -qx \"$2\" \"$1.fails\" 2>/dev/null && { echo \"virsh: $2 refused\" >&2; exit 1; }; exit "
        "0";
    std::string domain = "$(touch PWNED); one-5";
    auto run = [&](const std::string& fails, const std::string& status, const std::string& cmd_word) {
        fs::remove(log);
        std::ofstream(log + ".fails") << fails;
        return sh(scripts::kQuiesced, {"5", "sh", "-c", virsh, "virsh", log, domain, "sh", "-c",
                                       "echo \"ran $2\" >> \"$1\"; echo noise; exit $3", "cmd", log, cmd_word, status});
    };
    auto calls = [&] {
        std::ifstream in(log);
        return std::string(std::istreambuf_iterator<char>(in), {});
    };
    std::string D = domain + "\n";
    Result r = run("", "0", "`touch PWNED`");
    CHECK((r.status == 0 && r.out == "frozen\n"));
    CHECK(calls() == "domfsfreeze " + D + "ran `touch PWNED`\ndomfsthaw " + D);
    r = run("", "3", "x");  // the command's failure is the script's, thawed all the same
    CHECK(r.status == 3);
    CHECK(calls() == "domfsfreeze " + D + "ran x\ndomfsthaw " + D);
    r = run("domfsfreeze\n", "0", "x");  // no agent: suspended, then resumed
    CHECK((r.status == 0 && r.out == "suspended\n"));
    CHECK(calls() == "domfsfreeze " + D + "suspend " + D + "ran x\ndomfsthaw " + D + "resume " + D);
    r = run("domfsfreeze\nsuspend\n", "0", "x");  // neither: nothing run, a thaw tried all the same
    CHECK(r.status == 1);
    CHECK(r.err.find("cannot suspend domain") != std::string::npos);
    CHECK(calls() == "domfsfreeze " + D + "suspend " + D + "domfsthaw " + D + "resume " + D);  // (a suspend may have happened)
    CHECK(!fs::exists(d / "PWNED"));
    // The driver gone (kTiedToDriver's TERM to the session), mid-command and mid-suspend (a
    // slow one, which may still complete): thawed, and resumed.
    std::string slow = "[ \"$2\" = suspend ] && sleep 3; " + virsh;
    for (const std::string& stand_in : {virsh, slow}) {
        fs::remove(log);
        std::ofstream(log + ".fails") << "domfsfreeze\n";
        Argv a = {"setsid", "sh", "-c", scripts::kQuiesced, "sh", "5", "sh", "-c", stand_in, "virsh", log, domain, "sleep", "30"};
        pid_t pid = ::fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            std::vector<char*> av;
            for (auto& w : a) av.push_back(w.data());
            av.push_back(nullptr);
            if (!::freopen("/dev/null", "w", stderr)) ::_exit(126);  // (the shell's note on the killed sleep)
            ::execvp(av[0], av.data());
            ::_exit(127);
        }
        for (int i = 0; i < 100 && !fs::exists(log); ++i) ::usleep(50000);
        ::usleep(500000);       // (the command's sleep, or the slow suspend's)
        ::kill(-pid, SIGTERM);  // (setsid: the child leads its own group, as under kTiedToDriver)
        int status = 0;
        ::waitpid(pid, &status, 0);
        CAPTURE(stand_in);
        CHECK(calls().find("domfsthaw " + D + "resume " + D) != std::string::npos);
    }
}

TEST_CASE("layer identities: numbered entries followed through links, other files, the target; nothing forged by a name") {
    scratch::Dir d;
    fs::path dir = d.p / "disk.0.snap", image = d.p / "image";
    fs::create_directories(dir);
    std::ofstream(image) << "i";
    std::ofstream(dir / "1") << "1";
    fs::create_symlink(image, dir / "0");
    std::ofstream(dir / "target\n1:1 9") << "a name that would forge a line";
    std::ofstream(dir / ".2.onestor-tmp.T1") << "a temporary";
    auto id = [](const fs::path& p) {
        struct stat st {};
        REQUIRE(::stat(p.c_str(), &st) == 0);
        return std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
    };
    Result r = sh(scripts::kLayerIds, {dir.string(), (d.p / "missing").string(), image.string()});
    REQUIRE(r.status == 0);
    CHECK(r.out == "file " + id(image) + "\n" + id(image) + " 0\n" + id(dir / "1") + " 1\ntarget \n");
    r = sh(scripts::kLayerIds, {dir.string(), (dir / "1").string(), (d.p / "missing").string()});
    CHECK(r.out == "file \n" + id(image) + " 0\n" + id(dir / "1") + " 1\ntarget " + id(dir / "1") + "\n");
    CHECK(sh(scripts::kLayerIds, {(d.p / "nowhere").string(), image.string()}).status != 0);
}
