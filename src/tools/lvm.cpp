#include "onestor/lvm.hpp"

#include "onestor/config.hpp"
#include "onestor/error.hpp"
#include "onestor/lock.hpp"
#include "onestor/log.hpp"
#include "onestor/numbers.hpp"

#include <charconv>
#include <sstream>

namespace onestor::lvm {
namespace {

std::string mb(unsigned long long n) { return std::to_string(n) + "m"; }

std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> out;
    std::string cur;
    for (char c : s) {
        if (c == sep) {
            out.push_back(cur);
            cur.clear();
        } else if (c != ' ' || !cur.empty()) {
            cur += c;
        }
    }
    out.push_back(cur);
    return out;
}

// A size field of lvs/vgs --nosuffix: digits, and for MiB units an optional fraction (cut).
// Anything else -- a word, a sign, more than 64 bits -- is an error, not a wrapped number.
unsigned long long size_field(const std::string& field, bool fraction, const std::string& what) {
    auto first = field.find_first_not_of(' '), last = field.find_last_not_of(' ');
    std::string f = first == std::string::npos ? "" : field.substr(first, last - first + 1);
    auto dot = fraction ? f.find('.') : std::string::npos;
    std::string whole = f.substr(0, dot), frac = dot == std::string::npos ? "" : f.substr(dot + 1);
    unsigned long long n = 0;
    auto [end, ec] = std::from_chars(whole.data(), whole.data() + whole.size(), n);
    if (whole.empty() || ec != std::errc() || end != whole.data() + whole.size() ||
        (dot != std::string::npos && (frac.empty() || frac.find_first_not_of("0123456789") != std::string::npos)))
        throw DriverError("unexpected size " + quoted(f) + " in the output of " + what);
    return n;
}

Step lvm_step(Host& h, std::initializer_list<std::string> words, const std::string& what) {
    return h.run_step(command(words), what, 300);
}

}  // namespace

// Metadata changes to one group, serialised across this front-end's actions.
Lock metadata_lock(const std::string& vg) { return Lock("lvm-" + vg); }

Argv command(std::initializer_list<std::string> words) {
    Argv a = config().get_words_or_empty("LVM_SUDO");
    a.insert(a.end(), words);
    return a;
}

std::string vg_of(long ds) { return "vg-one-" + std::to_string(ds); }
Lv disk_lv(long ds, long vmid, int disk) { return {vg_of(ds), "lv-one-" + std::to_string(vmid) + "-" + std::to_string(disk)}; }
Lv pool_lv(const std::string& vg, long vmid) { return {vg, "lv-one-" + std::to_string(vmid) + "-pool"}; }
Lv snapshot_lv(const Lv& disk, long snap) { return {disk.vg, disk.name + "_s" + std::to_string(snap)}; }

std::optional<DiskRef> parse_disk_device(const std::string& dev) {
    // /dev/vg-one-<ds>/lv-one-<vm>-<disk>, exactly
    const std::string p1 = "/dev/vg-one-", p2 = "/lv-one-";
    if (dev.rfind(p1, 0) != 0) return std::nullopt;
    auto slash = dev.find('/', p1.size());
    if (slash == std::string::npos || dev.compare(slash, p2.size(), p2) != 0) return std::nullopt;
    std::string ds = dev.substr(p1.size(), slash - p1.size());
    std::string rest = dev.substr(slash + p2.size());
    auto dash = rest.find('-');
    if (dash == std::string::npos) return std::nullopt;
    std::string vm = rest.substr(0, dash), disk = rest.substr(dash + 1);
    auto d = to_number(ds, 0, kMaxId), v = to_number(vm, 0, kMaxId), k = to_number(disk, 0, kMaxId);
    if (!d || !v || !k) return std::nullopt;  // not a name of ours (numbers.hpp: no sign, no leading zeros)
    return DiskRef{static_cast<long>(*d), static_cast<long>(*v), static_cast<int>(*k)};
}

Argv list_command(const std::string& vg) {
    return command(
        {"lvs", "--noheadings", "--nosuffix", "--units", "b", "--separator", "|", "-o", "lv_name,lv_size,lv_attr,pool_lv", vg});
}

std::map<std::string, LvState> list(Host& h, const std::string& vg) {
    Result r =
        h.run(list_command(vg),
              {.timeout_s = 120, .what = "cannot list the logical volumes of " + quoted(vg) + " on " + h.name(), .asks = true});
    return parse_lvs(r.out, vg);
}

std::map<std::string, LvState> parse_lvs(const std::string& text, const std::string& vg) {
    std::map<std::string, LvState> out;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        auto f = split(line, '|');
        if (f.size() < 4 || f[0].empty()) continue;
        LvState s;
        s.bytes = size_field(f[1], false, "lvs " + vg);
        s.active = f[2].size() > 4 && f[2][4] == 'a';
        s.is_pool = !f[2].empty() && f[2][0] == 't';
        s.pool = f[3];
        out[f[0]] = s;
    }
    return out;
}

std::optional<LvState> find(Host& h, const Lv& lv) {
    auto all = list(h, lv.vg);
    auto it = all.find(lv.name);
    if (it == all.end()) return std::nullopt;
    return it->second;
}

Argv usage_command(const std::string& vg) {
    return command({"vgs", "--noheadings", "--nosuffix", "--units", "m", "--separator", "|", "-o", "vg_size,vg_free", vg});
}

VgUsage parse_vgs(const std::string& text, const std::string& vg) {
    auto f = split(text.substr(0, text.find('\n')), '|');
    if (f.size() < 2) throw DriverError("unexpected vgs output for " + quoted(vg) + ": " + quoted(text));
    return {size_field(f[0], true, "vgs " + vg), size_field(f[1], true, "vgs " + vg)};
}

Step create_linear_step(Host& h, const Lv& lv, unsigned long long size_mb) {
    return lvm_step(h, {"lvcreate", "-q", "-y", "-L", mb(size_mb), "-n", lv.name, lv.vg},
                    "cannot create logical volume " + quoted(lv.spec()) + " of " + std::to_string(size_mb) + " MiB");
}

std::vector<Step> create_thin_steps(Host& h, const Lv& lv, const Lv& pool, unsigned long long size_mb, bool pool_exists) {
    std::vector<Step> out;
    if (pool_exists)
        out.push_back(extend_pool_step(h, pool, size_mb));
    else  // -Zy: the pool zeroes each block it hands out, so no VM reads another's old data.
        out.push_back(
            lvm_step(h, {"lvcreate", "-q", "-y", "--type", "thin-pool", "-Zy", "-L", mb(size_mb), "-n", pool.name, pool.vg},
                     "cannot create thin pool " + quoted(pool.spec())));
    out.push_back(lvm_step(h, {"lvcreate", "-q", "-y", "-V", mb(size_mb), "-T", pool.spec(), "-n", lv.name},
                           "cannot create thin volume " + quoted(lv.spec())));
    return out;
}

Step snapshot_step(Host& h, const Lv& origin, const Lv& snap) {
    return lvm_step(h, {"lvcreate", "-q", "-y", "-s", "-n", snap.name, origin.spec()},
                    "cannot snapshot " + quoted(origin.spec()));
}

Step extend_step(Host& h, const Lv& lv, unsigned long long size_mb) {
    return lvm_step(h, {"lvextend", "-q", "-L", mb(size_mb), lv.spec()},
                    "cannot grow " + quoted(lv.spec()) + " to " + std::to_string(size_mb) + " MiB");
}

Step extend_pool_step(Host& h, const Lv& pool, unsigned long long by_mb) {
    return lvm_step(h, {"lvextend", "-q", "-L", "+" + mb(by_mb), pool.spec()}, "cannot grow thin pool " + quoted(pool.spec()));
}

Argv rename_command(const Lv& from, const std::string& to) { return command({"lvrename", "-q", from.vg, from.name, to}); }

Step rename_step(Host& h, const Lv& from, const std::string& to, Argv undo) {
    Step s = h.run_step(rename_command(from, to), "cannot rename " + quoted(from.spec()) + " to " + quoted(to), 300);
    s.undo = std::move(undo);
    return s;
}

Step remove_step(Host& h, const Lv& lv) {
    return lvm_step(h, {"lvremove", "-q", "-f", lv.spec()}, "cannot remove " + quoted(lv.spec()));
}

Step activate_step(Host& h, const Lv& lv) {
    // -K: a thin snapshot carries the skip-activation flag
    return lvm_step(h, {"lvchange", "-q", "-ay", "-K", lv.spec()}, "cannot activate " + quoted(lv.spec()) + " on " + h.name());
}

std::vector<Step> deactivate_steps(Host& h, const Lv& lv, std::map<std::string, LvState>& all) {
    std::vector<Step> out;
    auto it = all.find(lv.name);
    if (it == all.end()) return out;
    const LvState st = it->second;
    it->second.active = false;
    if (st.active)
        out.push_back(
            lvm_step(h, {"lvchange", "-q", "-an", lv.spec()}, "cannot deactivate " + quoted(lv.spec()) + " on " + h.name()));
    if (st.pool.empty()) return out;
    for (const auto& [name, s] : all)
        if (name != lv.name && s.pool == st.pool && s.active) return out;  // the pool still serves this host
    Lv pool{lv.vg, st.pool};
    if (auto p = all.find(pool.name); p != all.end()) p->second.active = false;
    out.push_back(lvm_step(h, {"lvchange", "-q", "-an", pool.spec()},
                           "cannot deactivate thin pool " + quoted(pool.spec()) + " on " + h.name()));
    return out;
}

void activate(Host& h, const Lv& lv) { h.batch({activate_step(h, lv)}); }

void deactivate(Host& h, const Lv& lv) {
    auto all = list(h, lv.vg);
    h.batch(deactivate_steps(h, lv, all));
}

Step zero_step(Host& h, const std::string& device, unsigned long long offset) {
    // (the LV's device is root's, as for the LVM commands: the same LVM_SUDO prefix)
    return h.run_step(command({"blkdiscard", "-z", "-o", std::to_string(offset), device}),
                      "cannot zero " + quoted(h.label(device)), static_cast<int>(config().get_int("COPY_TIMEOUT")));
}

}  // namespace onestor::lvm
