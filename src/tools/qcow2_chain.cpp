#include "onestor/qcow2_chain.hpp"

#include "onestor/error.hpp"
#include "onestor/numbers.hpp"

#include <sys/stat.h>
#include <algorithm>
#include <set>
#include <utility>

namespace onestor::chain {

namespace {
// "k" as we write it: digits without a leading zero ("01" would be another file than "1").
bool canonical_layer_name(const std::string& n) { return numeric_name(n) && n == std::to_string(std::stol(n)); }
}  // namespace

long Layout::layer_of(const qemu::ImageInfo& i) const {
    std::string b = i.full_backing_file.empty() ? i.backing_file : i.full_backing_file;
    if (b.empty() || b[0] != '/' || !canonical_layer_name(basename_of(b))) return -1;
    std::string d = dirname_of(b);
    while (d != dir && basename_of(d) == leaf) d = dirname_of(d);  // through the self link
    return d == dir ? std::stol(basename_of(b)) : -1;
}

Layout beside_image(const std::string& image, const std::string& format) {
    Layout l;
    l.dir = image + ".snap";
    l.leaf = basename_of(image) + ".snap";
    l.absolute = l.persistent = true;
    l.base_format = format;
    return l;
}

namespace {

// The layer disk.N's link names, by name as we write it: "disk.N.snap/k" beside disk.N,
// or "<SOURCE>.snap/k".
long active_of(const HostPath& disk, const Layout& l, const std::string& link) {
    std::string b = link.substr(link.rfind('/') + 1);
    if (!numeric_name(b))
        throw DriverError("disk " + quoted(disk.str()) + " is not a qcow2 snapshot chain (it points at " + quoted(link) + ")");
    if ((link[0] == '/' ? link : join_path(dirname_of(disk.path), link)) != join_path(l.dir, b))
        throw DriverError("disk " + quoted(disk.str()) + " points at " + quoted(link) + ", not at layer " + b + " of " +
                          quoted(l.dir));
    return std::stol(b);
}

}  // namespace

void check_loops(const std::vector<qemu::ImageInfo>& chain, const std::string& what) {
    std::set<std::string> seen;
    for (const auto& i : chain)
        if (!seen.insert(i.filename).second) throw DriverError(what + " has a backing chain that loops at " + quoted(i.filename));
}

Active validated_active(Host& h, const HostPath& disk, const Layout& l, std::vector<Step> also) {
    // When every layer is a qcow2 the chain is read with the link; a persistent raw
    // layer 0 only once the link has said it is the active one.
    bool together = l.base_format == "qcow2";
    std::vector<Step> steps = {
        h.readlink_step(disk.path, "disk " + quoted(disk.str()) + " is not a qcow2 snapshot chain (it is no symlink)")};
    if (together) steps.push_back(qemu::chain_step(h, disk.path, "qcow2"));
    size_t first = steps.size();
    for (auto& s : also) steps.push_back(std::move(s));
    std::vector<std::string> out;
    try {
        out = h.batch(steps);
    } catch (const DriverError&) {
        // A chain that does not open because disk.N points at a missing layer: say that.
        std::string link = h.readlink(disk.path);
        if (!link.empty() && !h.exists(l.file(active_of(disk, l, link))))
            throw DriverError("disk " + quoted(disk.str()) + " points at a missing layer " + quoted(link));
        throw;
    }
    Active a;
    a.id = active_of(disk, l, out[0]);
    a.chain = together ? qemu::parse_chain(out[1]) : qemu::chain(h, disk.path, l.format(a.id));
    check_loops(a.chain, "disk " + quoted(disk.str()));
    a.also.assign(out.begin() + static_cast<long>(first), out.end());
    return a;
}

std::vector<Step> shorten_names(Host& h, const Layout& l, const std::vector<qemu::ImageInfo>& chain, long first) {
    std::vector<Step> steps;
    if (l.absolute) return steps;
    long id = first;
    for (const auto& i : chain) {
        long below = l.layer_of(i);
        if (below < 0) break;
        if (i.backing_file != l.frozen_name(below) && !i.backing_format.empty()) {
            steps.push_back(qemu::rebase_unsafe_step(h, l.file(id), l.frozen_name(below), i.backing_format));
            steps.push_back(h.sync_step(l.file(id)));
        }
        id = below;
    }
    return steps;
}

std::map<long, qemu::ImageInfo> checked_layers(Host& h, const Layout& l, const std::vector<std::string>& names,
                                               const std::string& image, std::vector<Step> before) {
    // Asked in one round trip, after `before`: each layer's header (validate's question), once
    // a step has made sure it is no symlink (the batch stops there); for a layer 0 beside the
    // image, both canonical paths. (Here, `before` runs first: the local checks are of its result.)
    if (h.local() && !before.empty()) h.batch(std::exchange(before, {}));
    std::vector<long> ks;
    for (const auto& n : names) {
        if (!numeric_name(n)) continue;
        if (!canonical_layer_name(n))  // (checked under one name, opened by qemu under another)
            throw DriverError("snapshot directory " + quoted(h.label(l.dir)) + " holds " + quoted(n) + ", not a layer name");
        long k = std::stol(n);
        ks.push_back(k);
        if (k == 0 && !image.empty()) continue;
        // Here, where a directory's entries are the datastore's: nothing but a regular file is
        // opened (a FIFO would hang qemu-img). On a host, the entries came from our own stream.
        struct stat st {};
        std::string f = l.file(k);
        if (h.local() && ::lstat(f.c_str(), &st) == 0 && S_ISLNK(st.st_mode))
            throw DriverError("layer " + quoted(h.label(f)) + " is a symlink");
        if (h.local() && (::lstat(f.c_str(), &st) != 0 || !S_ISREG(st.st_mode)))
            throw DriverError("layer " + quoted(h.label(f)) + " is not a file");
    }
    std::vector<Step> steps = std::move(before);
    size_t at = steps.size();
    if (!image.empty()) steps.push_back(qemu::validate_step(h, image, l.base_format));
    for (long k : ks) {
        std::string f = l.file(k);
        if (k == 0 && !image.empty()) {
            steps.push_back(h.realpath_step(f));
            steps.push_back(h.realpath_step(image));
            continue;
        }
        steps.push_back(h.ask_step({"test", "!", "-L", f}, "layer " + quoted(h.label(f)) + " is a symlink"));
        steps.push_back(qemu::validate_step(h, f, l.format(k)));
    }
    auto out = h.batch(steps);
    std::map<long, qemu::ImageInfo> layers;
    if (!image.empty()) layers[0] = qemu::validated(h, out[at++], image, l.base_format, "");
    for (long k : ks) {
        std::string f = l.file(k);
        const std::string &first = out[at], &second = out[at + 1];
        at += 2;
        if (k == 0 && !image.empty()) {
            if (first != second || first.empty())
                throw DriverError("layer 0 of " + quoted(h.label(image)) + " is not the image itself");
            continue;
        }
        qemu::ImageInfo i = qemu::validated(h, second, f, l.format(k), k == 0 ? "" : l.dir);
        long below = l.layer_of(i);
        if (k > 0 && (below < 0 || i.backing_format != l.format(below)))
            throw DriverError("layer " + quoted(h.label(f)) + " does not name a layer of its directory and its format");
        layers[k] = i;
    }
    if (!layers.count(0)) throw DriverError("snapshot directory " + quoted(h.label(l.dir)) + " has no layer 0");
    // With layers beside it, the image is reached through its link 0 (the name they use).
    bool others = layers.size() > 1;
    if (!image.empty() && others && std::find(names.begin(), names.end(), "0") == names.end())
        throw DriverError("layer 0 of " + quoted(h.label(image)) + " is not the image itself");
    // Every layer leads down to layer 0, each step to a layer that is there.
    for (const auto& [k, i] : layers) {
        long at = k;
        for (size_t steps = 0; at != 0; ++steps) {
            auto it = layers.find(at);
            if (it == layers.end() || steps > layers.size())
                throw DriverError("the chain of " + quoted(h.label(l.dir)) + " is broken or loops at layer " + std::to_string(k));
            at = l.layer_of(it->second);
        }
    }
    return layers;
}

}  // namespace onestor::chain
