// The driver tables: every entry is a registered action (or a variant of one) of the table's
// kind, of the shape that action calls, so a typo or a wrong function is caught here and
// not by oned.
#include "onestor/registry.hpp"

#include <doctest/doctest.h>

#include <map>

using namespace onestor;

namespace {

template <class Sig>
bool shaped(const Table& t, const std::string& key) {
    try {
        t.ops.at(key).as<Sig>(t.name, key);
        return true;
    } catch (const DriverError&) {
        return false;
    }
}

bool right_shape(Kind k, const Table& t, const std::string& key) {
    std::string a = key.substr(0, key.find('.'));
    if (k == Kind::Ds) {
        if (a == "cp" || a == "mkfs" || a == "clone") return shaped<sig::Image>(t, key);
        if (a == "stat") return shaped<sig::Stat>(t, key);
        if (a == "monitor") return shaped<sig::Monitor>(t, key);
        if (a == "export") return shaped<sig::Export>(t, key);
        return shaped<sig::ImageVoid>(t, key);
    }
    static const std::map<std::string, bool (*)(const Table&, const std::string&)> tm = {
        {"clone", shaped<sig::Paths>},
        {"ln", shaped<sig::Paths>},
        {"mvds", shaped<sig::Paths>},
        {"mv", shaped<sig::Paths>},
        {"cpds", shaped<sig::Cpds>},
        {"delete", shaped<sig::One>},
        {"resize", shaped<sig::DiskNum>},
        {"snap_create", shaped<sig::DiskNum>},
        {"snap_create_live", shaped<sig::DiskNum>},
        {"snap_delete", shaped<sig::DiskNum>},
        {"snap_revert", shaped<sig::DiskNum>},
        {"context", shaped<sig::Context>},
        {"mkimage", shaped<sig::Mkimage>},
        {"mkswap", shaped<sig::Mkswap>},
        {"premigrate", shaped<sig::Migrate>},
        {"postmigrate", shaped<sig::Migrate>},
        {"failmigrate", shaped<sig::Migrate>},
        {"activate", shaped<sig::Host>},
        {"monitor", shaped<sig::Monitor>},
        {"monitor_ds", shaped<sig::MonitorDs>}};
    auto it = tm.find(a);
    if (it != tm.end()) return it->second(t, key);
    // An action added since this list: its entries agree with each other (below).
    return true;
}

}  // namespace

TEST_CASE("tables: every entry is a registered action of the right shape") {
    auto check = [](Kind k, const Table& t) {
        CHECK_FALSE(t.ops.empty());
        for (const auto& [key, e] : t.ops) {
            CHECK_MESSAGE(Registry::find(k, key.substr(0, key.find('.'))) != nullptr, std::string(t.name + " " + key));
            CHECK_MESSAGE(right_shape(k, t, key), std::string(t.name + " " + key));
        }
    };
    for (auto* t : ds_backends()) check(Kind::Ds, *t);
    for (auto* t : tm_backends()) check(Kind::Tm, *t);
    CHECK(tm_backends().size() == 5);
    // Whatever the action, every table's entry for it (and its variants) has one shape.
    std::map<std::string, const std::type_info*> shape;
    for (auto* t : tm_backends())
        for (const auto& [key, e] : t->ops) {
            auto [it, fresh] = shape.emplace(key.substr(0, key.find('.')), &e.shape());
            CHECK_MESSAGE((fresh || *it->second == e.shape()), std::string(t->name + " " + key));
        }
}

TEST_CASE("tables: variants and the fall-back to the plain action") {
    const TmTable& qcow2 = *find_tm_backend("qcow2");
    const TmTable& ssh = *find_tm_backend("ssh");
    CHECK(qcow2.variants("ln") == std::set<std::string>{"ssh"});
    CHECK(ssh.variants("clone").empty());
    CHECK(&ssh.entry("clone", "ssh") == &ssh.entry("clone"));  // no clone.ssh: the plain one
    CHECK(&qcow2.entry("ln", "ssh") != &qcow2.entry("ln"));
    CHECK_THROWS_WITH_AS(find_tm_backend("fs_lvm")->entry("snap_create_live"), "fs_lvm: snap_create_live is not supported",
                         DriverError);
    CHECK_THROWS_WITH_AS(ssh.entry("clone").as<sig::One>("ssh", "clone"), doctest::Contains("another shape"), DriverError);
    // From 6.2 shared and qcow2 are one driver under two names: the same actions and variants.
    CHECK(find_tm_backend("shared")->features() == qcow2.features());
    CHECK(find_tm_backend("shared")->variants("clone") == qcow2.variants("clone"));
}
