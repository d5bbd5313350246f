#include "onestor/args.hpp"

#include "onestor/config.hpp"
#include "onestor/error.hpp"
#include "onestor/host.hpp"
#include "onestor/rbd.hpp"

namespace onestor {

namespace {
std::string kind_word(ArgKind k) {
    switch (k) {
        case ArgKind::DsDump: return "DUMP ID";
        case ArgKind::HostPath: return "host:/path";
        case ArgKind::Path: return "[host:]/path";
        case ArgKind::Host: return "host";
        case ArgKind::VmId: return "vmid";
        case ArgKind::DsId: return "dsid";
        case ArgKind::SnapId: return "snapid";
        case ArgKind::SaveSnapId: return "snapid|-1";
        case ArgKind::SizeMb: return "size_mb";
        case ArgKind::Format: return "format";
        case ArgKind::Files: return "file[:'name']...";
        case ArgKind::Extra: return "[template_b64] [caller_tm]";
        case ArgKind::Unread: return "[args...]";
    }
    return "?";
}
}  // namespace

std::string synopsis(const std::vector<ArgSpec>& spec) {
    std::string s;
    for (const auto& a : spec) {
        if (!s.empty()) s += ' ';
        if (a.kind == ArgKind::DsDump || a.kind == ArgKind::Files || a.kind == ArgKind::Extra || a.kind == ArgKind::Unread)
            s += kind_word(a.kind);
        else
            s += a.name + "(" + kind_word(a.kind) + ")";
    }
    return s;
}

long Args::parse_int(const std::string& w, const std::string& what, long long min, long long max) {
    return static_cast<long>(parse_number(w, min, max, what));  // long is 64-bit: no narrowing
}

ContextFile Args::parse_context_file(const std::string& word) {
    ContextFile f;
    std::string path = word, name;
    // "path:'name'": the name is quoted by oned; everything inside the quotes is the name.
    auto sep = word.find(":'");
    if (sep != std::string::npos && word.size() > sep + 2 && word.back() == '\'') {
        path = word.substr(0, sep);
        name = word.substr(sep + 2, word.size() - sep - 3);
    }
    if (path.rfind("http://", 0) == 0 || path.rfind("https://", 0) == 0) {
        // Downloaded (TM context), named as wget -P names it: the last segment of its path.
        f.url = path;
        std::string u = path.substr(0, path.find_first_of("?#"));
        auto host_end = u.find('/', u.find("://") + 3);
        f.name = name.empty() && host_end != std::string::npos ? u.substr(u.rfind('/') + 1) : name;
    } else {
        f.path = clean_path(path, "context file");
        f.name = name.empty() ? basename_of(f.path) : name;
    }
    if (f.name.empty() || f.name == "." || f.name == ".." || f.name.find('/') != std::string::npos)
        throw DriverError("context file " + quoted(word) + " has an unusable name " + quoted(f.name));
    for (unsigned char c : f.name)
        if (c < 0x20) throw DriverError("context file name " + quoted(f.name) + " contains a control character");
    return f;
}

namespace {
// host:POOL/IMAGE (or POOL/IMAGE) into `out` when the part after the host is no absolute
// path; its names are validated here, before anything runs.
bool rbd_source(const std::string& w, HostPath& out) {
    auto colon = w.find(':');
    std::string rest = colon == std::string::npos ? w : w.substr(colon + 1);
    if (rest.empty() || rest[0] == '/') return false;
    if (colon != std::string::npos) out.host = valid_host(w.substr(0, colon));
    out.path = rbd::parse_spec(rest).spec();
    return true;
}
}  // namespace

Args Args::parse(const std::vector<ArgSpec>& spec, const std::vector<std::string>& words, const std::string& action,
                 const std::function<std::string()>& stdin_text, bool rbd_images) {
    Args a;
    if (spec.size() == 1 && spec[0].kind == ArgKind::Unread) return a;
    auto usage = [&](const std::string& why) {
        return DriverError(action + ": " + why + "; usage: " + action + " " + synopsis(spec));
    };
    size_t fixed = 0;
    bool variadic = false, extra = false;
    for (const auto& s : spec) {
        if (s.kind == ArgKind::Files)
            variadic = true;
        else if (s.kind == ArgKind::Extra)
            extra = true;
        else if (s.kind != ArgKind::DsDump)
            ++fixed;
    }
    size_t n = words.size(), i = 0;
    bool has_dump = !spec.empty() && spec[0].kind == ArgKind::DsDump;
    // The count first: a wrong number of words is refused before any word is interpreted.
    if (!has_dump && (n < fixed + (variadic ? 1 : 0) || (!variadic && n > fixed + (extra ? 2 : 0))))
        throw usage("expected " + std::string(variadic ? "at least " : "") + std::to_string(fixed + (variadic ? 1 : 0)) +
                    (extra ? " to " + std::to_string(fixed + 2) : "") + " arguments, got " + std::to_string(n));
    for (const auto& s : spec) {
        switch (s.kind) {
            case ArgKind::DsDump: {
                if (n == 2) {
                    a.dump_ = DsDump::from_base64(words[0]);
                    a.nums_["id"] = parse_int(words[1], "id", 0, kMaxId);
                } else if (n == 1) {
                    a.nums_["id"] = parse_int(words[0], "id", 0, kMaxId);
                    a.dump_ = DsDump::from_base64(stdin_text());
                } else {
                    throw usage("expected 2 arguments (or 1 with the dump on stdin), got " + std::to_string(n));
                }
                return a;
            }
            case ArgKind::Files: {
                if (n < fixed + 1) throw usage("expected at least one file");
                for (size_t k = 0; k < n - fixed; ++k) a.files_.push_back(parse_context_file(words[i++]));
                continue;
            }
            case ArgKind::Extra: {
                while (i < n) a.extra_.push_back(words[i++]);
                continue;
            }
            default: break;
        }
        if (i >= n)
            throw usage("expected " + std::to_string(fixed) + (extra ? " to " + std::to_string(fixed + 2) : "") +
                        " arguments, got " + std::to_string(n));
        const std::string& w = words[i++];
        if (rbd_images && s.confine == Confine::Image && rbd_source(w, a.paths_[s.name])) continue;
        switch (s.kind) {
            case ArgKind::HostPath: {
                HostPath hp = HostPath::parse(w);
                if (hp.host.empty()) throw usage(s.name + " must be host:/path, not " + quoted(w));
                a.paths_[s.name] = hp;
                break;
            }
            case ArgKind::Path: a.paths_[s.name] = HostPath::parse(w); break;
            case ArgKind::Host: a.words_[s.name] = valid_host(w); break;
            case ArgKind::VmId:
            case ArgKind::DsId: a.nums_[s.name] = parse_int(w, s.name, 0, kMaxId); break;
            case ArgKind::SnapId: a.nums_[s.name] = parse_int(w, s.name, 0, kMaxId); break;
            case ArgKind::SaveSnapId: a.nums_[s.name] = parse_int(w, s.name, -1, kMaxId); break;
            case ArgKind::SizeMb: a.nums_[s.name] = parse_int(w, s.name, 1, kMaxSizeMb); break;
            case ArgKind::Format: {
                for (char c : w)
                    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-')
                        throw usage("invalid format " + quoted(w));
                if (w.empty()) throw usage("empty format");
                a.words_[s.name] = w;
                break;
            }
            default: break;
        }
    }
    if (i != n && !variadic)
        throw usage("expected " + std::to_string(fixed) + (extra ? " to " + std::to_string(fixed + 2) : "") + " arguments, got " +
                    std::to_string(n));
    if (a.extra_.size() > 2) throw usage("too many arguments");
    confine_paths(spec, a);
    return a;
}

void Args::confine_paths(const std::vector<ArgSpec>& spec, const Args& a) {
    auto num = [&](const char* n) { return a.nums_.count(n) ? a.nums_.at(n) : -1L; };  // monitor_ds has no ids
    for (const auto& s : spec) {
        if (s.confine == Confine::None) continue;
        const HostPath& p = a.path(s.name);
        if (p.path.empty() || p.path[0] != '/') continue;  // an RBD spec (rbd_images): no directory
        std::string root = confine(p.path, s.confine, num("vmid"), num("dsid"), config().get("DATASTORE_LOCATION"), p.str());
        // Where the path is opened here, its directories are followed here too: resolved.
        // (pre/postmigrate's directory names no host: it is on the hypervisors.)
        if (s.confine != Confine::VmDir && Host::get(p.host).local()) confine_resolved(p.path, root, p.str());
    }
}

const HostPath& Args::path(const std::string& name) const {
    auto it = paths_.find(name);
    if (it == paths_.end()) throw DriverError("internal error: no argument " + name);
    return it->second;
}

const std::string& Args::word(const std::string& name) const {
    auto it = words_.find(name);
    if (it == words_.end()) throw DriverError("internal error: no argument " + name);
    return it->second;
}

long Args::num(const std::string& name) const {
    auto it = nums_.find(name);
    if (it == nums_.end()) throw DriverError("internal error: no argument " + name);
    return it->second;
}

const DsDump& Args::dump() const {
    if (!dump_) throw DriverError("internal error: no dump");
    return *dump_;
}

}  // namespace onestor
