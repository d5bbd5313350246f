#include "onestor/cli.hpp"

#include "onestor/download.hpp"
#include "onestor/error.hpp"
#include "onestor/io.hpp"
#include "onestor/paths.hpp"
#include "onestor/protocol.hpp"
#include "onestor/registry.hpp"
#include "onestor/transfer.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <algorithm>
#include <climits>

#ifndef ONESTOR_VERSION
#define ONESTOR_VERSION "0.0.0"
#endif

namespace onestor::cli {
namespace {

std::vector<std::string> split_path(const std::string& p) {
    std::vector<std::string> parts;
    std::string cur;
    for (char c : p) {
        if (c == '/') {
            if (!cur.empty()) parts.push_back(cur);
            cur.clear();
        } else {
            cur += c;
        }
    }
    if (!cur.empty()) parts.push_back(cur);
    return parts;
}

void split_action(const std::string& word, Invocation& inv) {
    auto dot = word.find('.');
    inv.action = word.substr(0, dot);
    inv.suffix = dot == std::string::npos ? "" : word.substr(dot + 1);
}

void check_known(const Invocation& inv) {
    if (!Registry::find(inv.kind, inv.action))
        throw DriverError("unknown " + std::string(inv.kind == Kind::Ds ? "datastore" : "transfer") + " action " +
                          quoted(inv.full_action()));
    if (inv.kind == Kind::Tm && !find_tm_backend(inv.driver)) throw DriverError("unknown transfer driver " + quoted(inv.driver));
    if (inv.kind == Kind::Ds && !inv.driver.empty() && !find_ds_backend(inv.driver))
        throw DriverError("unknown datastore driver " + quoted(inv.driver));
}

bool is_help(const std::string& w) { return w == "--help" || w == "-h"; }

const char* kUsage =
    "onestor - OpenNebula storage drivers (fs datastore; shared transfer manager) in one program\n"
    "\n"
    "Usage:\n"
    "  <remotes>/datastore/<ds_mad>/<action> DUMP ID     as oned calls it (through a symlink)\n"
    "  <remotes>/tm/<tm_mad>/<action> ARGS...           as oned calls it (through a symlink)\n"
    "  onestor ds [DRIVER] ACTION DUMP ID               a datastore action (DRIVER from the dump)\n"
    "  onestor ds [DRIVER] ACTION ID < DUMP             6.8+ form: the dump on stdin\n"
    "  onestor tm DRIVER ACTION[.SUFFIX] ARGS...        a transfer action\n"
    "  onestor ds|tm DRIVER ACTION --help               the action's arguments\n"
    "  onestor actions                                  the driver x action matrix\n"
    "  onestor install-remotes DIR                      create DIR/onestor and the symlink tree\n"
    "  onestor send PATH [RATE] | onestor receive PATH  the sparse transfer stream (ssh driver)\n"
    "  onestor receive --clean PATH                     the same, first removing PATH's temporary\n"
    "                                                   copies that killed attempts left\n"
    "  onestor sweep PATH                               remove PATH's temporary copies whose writer\n"
    "                                                   died (never a live writer's)\n"
    "  onestor doctor [HOST...]                         check what the drivers need on the front-end\n"
    "                                                   and the hosts; one line per problem, with the fix\n"
    "  onestor --version\n"
    "  onestor --progress ds|tm|fetch ...               copies and downloads show a live bar on a terminal\n"
    "  onestor --dry-run ds|tm ...                      print what the action would do, per host, changing\n"
    "                                                   nothing (its questions are asked; DRY_RUN=yes for oned)\n"
    "\n"
    "Settings: KEY=VALUE file $ONESTOR_CONF (default /etc/one/onestor.conf), each key\n"
    "overridable as ONESTOR_<KEY> in the environment.\n";

std::string matrix() {
    // One column per driver, as wide as its widest mark; one row per registered action.
    std::string s;
    auto table = [&](Kind kind, const std::vector<std::string>& drivers, auto mark) {
        std::string title = kind == Kind::Ds ? "datastore actions" : "transfer actions";
        size_t w = title.size() + 1;  // the first column: the title, or "  " and the longest action
        for (const auto& a : Registry::all())
            if (a.kind == kind) w = std::max(w, a.name.size() + 3);
        std::vector<size_t> widths;
        for (const auto& d : drivers) {
            size_t cw = d.size();
            for (const auto& a : Registry::all())
                if (a.kind == kind) cw = std::max(cw, mark(d, a.name).size());
            widths.push_back(cw);
        }
        auto cell = [](const std::string& t, size_t width) { return " " + t + std::string(width - t.size(), ' '); };
        s += title + std::string(w - std::min(w, title.size()), ' ');
        for (size_t i = 0; i < drivers.size(); ++i) s += cell(drivers[i], widths[i]);
        s += "\n";
        for (const auto& a : Registry::all()) {
            if (a.kind != kind) continue;
            s += "  " + a.name + std::string(w - 2 - std::min(w - 2, a.name.size()), ' ');
            for (size_t i = 0; i < drivers.size(); ++i) s += cell(mark(drivers[i], a.name), widths[i]);
            s += "\n";
        }
    };
    std::vector<std::string> dsn, tmn;
    for (auto* b : ds_backends()) dsn.push_back(b->name);
    for (auto* b : tm_backends()) tmn.push_back(b->name);
    table(Kind::Ds, dsn, [](const std::string& d, const std::string& a) {
        return find_ds_backend(d)->supports(a) ? std::string("yes") : std::string("-");
    });
    s += "\n";
    table(Kind::Tm, tmn, [](const std::string& d, const std::string& a) {
        const TmTable* b = find_tm_backend(d);
        if (!b->supports(a)) return std::string("-");
        std::string m = "yes";
        for (const auto& v : b->variants(a)) m += "+" + v;
        return m;
    });
    s += "\n(-: the action exists and answers \"not supported\"; +ssh: a .ssh variant of its own)\n";
    return s;
}

int help(const std::vector<std::string>& w, std::string& out) {
    out = kUsage;
    return w.empty() ? 2 : 0;
}

int version(const std::vector<std::string>&, std::string& out) {
    // The profile this binary would use where it sits (main chose it from remotes/VERSION).
    out = std::string("onestor ") + ONESTOR_VERSION + "\nprofile: " + protocol::profile().describe() + ", from " +
          protocol::profile().origin + "\n";
    return 0;
}

int only(const std::vector<std::string>& w, std::string& out, std::string (*text)()) {
    if (w.size() != 1) throw DriverError("usage: onestor " + w[0]);
    out = text();
    return 0;
}

// The commands that are not driver actions, each by its first word (--progress, --dry-run aside).
struct MetaCommand {
    const char* name;
    int (*run)(const std::vector<std::string>& words, std::string& out);  // words[0] is the name
};
const MetaCommand kMeta[] = {
    {"--help", help},
    {"-h", help},
    {"help", help},
    {"--version", version},
    {"actions", [](const std::vector<std::string>& w, std::string& out) { return only(w, out, matrix); }},
    {"install-remotes",
     [](const std::vector<std::string>& w, std::string& out) {
         if (w.size() != 2) throw DriverError("usage: onestor install-remotes DIR");
         install_remotes(w[1], out);
         return 0;
     }},
    {"doctor", [](const std::vector<std::string>& w,
                  std::string& out) { return doctor(std::vector<std::string>(w.begin() + 1, w.end()), out); }},
    {"send", transfer::host_side},
    {"receive", transfer::host_side},
    {"sweep", transfer::host_side},
    // hidden: the package's /etc/one/onestor.conf and onestor(1)
    {"config-template", [](const std::vector<std::string>& w, std::string& out) { return only(w, out, config_template); }},
    {"man", [](const std::vector<std::string>& w, std::string& out) { return only(w, out, man_page); }},
    {"fetch", download::fetch_command},  // hidden: the download pipeline, for tests and benchmarks
    {"bridge", serve_bridge},            // hidden: a BRIDGE_LIST host's side
};

const MetaCommand* find_meta(const std::string& word) {
    for (const auto& m : kMeta)
        if (word == m.name) return &m;
    return nullptr;
}

}  // namespace

std::string usage_text() { return kUsage; }

Parsed parse(const std::vector<std::string>& argv) {
    Parsed p;
    if (argv.empty()) throw DriverError("no program name");
    std::vector<std::string> parts = split_path(argv[0]);
    std::string stem = parts.empty() ? "" : parts.back();
    if (stem.rfind("onestor", 0) == 0) {  // shell form (also a renamed/versioned binary)
        std::vector<std::string> w(argv.begin() + 1, argv.end());
        for (; !w.empty() && (w[0] == "--progress" || w[0] == "--dry-run"); w.erase(w.begin()))
            (w[0] == "--progress" ? p.progress : p.dry_run) = true;
        if (w.empty() || find_meta(w[0])) {
            if (p.dry_run) throw DriverError("--dry-run is for driver actions (onestor --dry-run ds|tm ...)");
            p.what = Parsed::What::Meta;
            p.meta = w;
            return p;
        }
        size_t i = 1;
        if (w[0] == "ds") {
            p.inv.kind = Kind::Ds;
            if (w.size() < 2) throw DriverError("usage: onestor ds [DRIVER] ACTION ARGS...");
            if (!Registry::find(Kind::Ds, w[1])) {
                p.inv.driver = w[1];
                i = 2;
            }
        } else if (w[0] == "tm") {
            p.inv.kind = Kind::Tm;
            if (w.size() < 3) throw DriverError("usage: onestor tm DRIVER ACTION ARGS...");
            p.inv.driver = w[1];
            i = 2;
        } else {
            throw DriverError("unknown command " + quoted(w[0]) + " (try onestor --help)");
        }
        if (i >= w.size()) throw DriverError("usage: onestor ds [DRIVER] ACTION ARGS...");
        split_action(w[i], p.inv);
        p.inv.args.assign(w.begin() + static_cast<long>(i) + 1, w.end());
    } else {
        // busybox form: .../<datastore|tm>/<driver>/<action>[.suffix]
        if (parts.size() < 3 || (parts[parts.size() - 3] != "datastore" && parts[parts.size() - 3] != "tm"))
            throw DriverError("cannot tell the driver from the program path " + quoted(argv[0]) +
                              " (expected .../datastore/<driver>/<action> or .../tm/<driver>/<action>)");
        p.inv.kind = parts[parts.size() - 3] == "datastore" ? Kind::Ds : Kind::Tm;
        p.inv.driver = parts[parts.size() - 2];
        split_action(stem, p.inv);
        p.inv.args.assign(argv.begin() + 1, argv.end());
    }
    check_known(p.inv);
    if (p.inv.args.size() == 1 && is_help(p.inv.args[0])) p.action_help = true;
    return p;
}

std::string action_help(const Invocation& inv) {
    const Action* a = Registry::find(inv.kind, inv.action);
    std::string where = kind_dir(inv.kind) + "/" + (inv.driver.empty() ? "<driver>" : inv.driver) + "/" + inv.action;
    return where + " " + synopsis(a->args) + "\n  " + a->help + "\n";
}

void for_each_link(const std::function<void(Kind, const std::string&, const std::string&, bool)>& fn) {
    for (const auto& a : Registry::all()) {
        if (a.kind == Kind::Ds) {
            for (auto* b : ds_backends()) fn(Kind::Ds, b->name, a.name, b->supports(a.name));
        } else {
            for (auto* b : tm_backends()) {
                fn(Kind::Tm, b->name, a.name, b->supports(a.name));
                for (const auto& v : b->variants(a.name)) fn(Kind::Tm, b->name, a.name + "." + v, true);
            }
        }
    }
}

void install_remotes(const std::string& dir_arg, std::string& out) {
    std::string dir = clean_path(dir_arg, "remotes directory");
    io::mkdir_p(dir);
    // The binary travels with the tree (oned copies remotes to every host), so the links
    // are relative: <dir>/tm/ssh/clone -> ../../onestor.
    std::string bin = join_path(dir, "onestor");
    std::string self = self_exe();
    char real[PATH_MAX];
    if (!::realpath(bin.c_str(), real) || self != real) {
        io::File in = io::open_read(self);
        io::TempFile t(bin, 0755);
        io::copy_fd(in.fd(), t.fd(), "onestor binary");
        ::fchmod(t.fd(), 0755);
        t.commit(true);
    }
    int made = 0, kept = 0, stock = 0;
    auto link = [&](Kind kind, const std::string& driver, const std::string& name, bool supported) {
        std::string d = join_path(join_path(dir, kind_dir(kind)), driver);
        io::mkdir_p(d);
        std::string path = join_path(d, name);
        char cur[PATH_MAX];
        ssize_t n = ::readlink(path.c_str(), cur, sizeof cur - 1);
        if (n > 0 && std::string(cur, static_cast<size_t>(n)) == "../../onestor") {
            ++kept;
            return;
        }
        // An action this driver does not implement (6.x backups, restore, ...): the release's
        // own script, where the tree has one, keeps doing it; only a missing one becomes our
        // "not supported" answer.
        struct stat st {};
        if (!supported && ::lstat(path.c_str(), &st) == 0) {
            ++stock;
            return;
        }
        std::string tmp = io::temp_name_for(path);
        if (::symlink("../../onestor", tmp.c_str()) != 0) throw_errno("cannot create symlink", tmp);
        io::rename_path(tmp, path, true);
        ++made;
    };
    for_each_link(link);
    out += "installed " + bin + ": " + std::to_string(made) + " links created, " + std::to_string(kept) + " already in place" +
           (stock ? ", " + std::to_string(stock) + " scripts of actions onestor does not implement kept" : "") + "\n";
}

int run_meta(const std::vector<std::string>& w, std::string& out) {
    if (w.empty()) return help(w, out);
    const MetaCommand* m = find_meta(w[0]);
    if (!m) throw DriverError("unknown command " + quoted(w[0]));
    return m->run(w, out);
}

}  // namespace onestor::cli
