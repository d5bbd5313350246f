// The package's generated documents (/etc/one/onestor.conf, onestor(1)) say what the program
// does: every setting it reads, at its default; every action and --help's synopsis.
#include "onestor/cli.hpp"
#include "onestor/config.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

using namespace onestor;

namespace {
std::set<std::string> table_keys() {
    std::set<std::string> k;
    for (const auto& s : settings()) k.insert(s.key);
    return k;
}
}  // namespace

TEST_CASE("the configuration template is every setting, commented out, at its default") {
    std::string t = cli::config_template();
    CHECK(Config::parse(t).empty());  // nothing set: the file as shipped changes nothing
    // Uncommenting each setting line gives exactly the table's defaults.
    std::string uncommented;
    std::istringstream in(t);
    for (std::string line; std::getline(in, line);)
        if (line.size() > 1 && line[0] == '#' && std::isupper(static_cast<unsigned char>(line[1])) &&
            line.find('=') != std::string::npos)
            uncommented += line.substr(1) + "\n";
    auto parsed = Config::parse(uncommented);
    CHECK(parsed.size() == settings().size());
    Config defaults = Config::from_text("");
    for (const auto& s : settings()) {
        CAPTURE(s.key);
        CHECK(parsed.count(s.key) == 1);
        CHECK(parsed[s.key] == s.default_value);
        CHECK(defaults.get(s.key) == s.default_value);
        CHECK(!s.help.empty());
    }
}

TEST_CASE("every setting the sources read is in the settings table") {
    // config().get*("KEY") anywhere in src/ must be a documented setting (FS_OPTS_<fs> is
    // the one family, documented with SUPPORTED_FS).
    std::regex re(R"(config\(\)\.get(?:_int|_bool|_words|_words_or_empty)?\("([A-Z0-9_]+)\")");
    std::set<std::string> keys = table_keys(), read;
    for (const auto& e : std::filesystem::recursive_directory_iterator(ONESTOR_SOURCE_DIR "/src")) {
        if (e.path().extension() != ".cpp") continue;
        std::ifstream f(e.path());
        std::stringstream ss;
        ss << f.rdbuf();
        std::string text = ss.str();
        for (std::sregex_iterator it(text.begin(), text.end(), re), end; it != end; ++it) read.insert((*it)[1]);
    }
    CHECK(read.size() > 20);
    for (const auto& k : read) {
        CAPTURE(k);
        CHECK((keys.count(k) == 1 || k == "FS_OPTS_" || k == "S3_"));  // (S3_<key>: the S3_* rows)
    }
}

TEST_CASE("the man page has --help's synopsis, every action and every setting") {
    std::string m = cli::man_page();
    CHECK(m.rfind(".TH ONESTOR 1 ", 0) == 0);
    auto roff = [](std::string s) {
        std::string o;
        for (char c : s) o += c == '-' ? std::string("\\-") : c == '\\' ? std::string("\\e") : std::string(1, c);
        return o;
    };
    std::istringstream usage(cli::usage_text());
    int lines = 0;
    for (std::string line; std::getline(usage, line);)
        if (line.rfind("  onestor ", 0) == 0 || line.rfind("  <remotes>", 0) == 0) {
            CAPTURE(line);
            CHECK(m.find(roff(line)) != std::string::npos);
            ++lines;
        }
    CHECK(lines >= 10);
    for (const auto& a : Registry::all()) {
        CAPTURE(a.name);
        CHECK(m.find(roff(kind_dir(a.kind) + "/<driver>/" + a.name) + "\n") != std::string::npos);
    }
    for (const auto& s : settings()) {
        CAPTURE(s.key);
        CHECK(m.find(".B " + roff(s.key) + "\n") != std::string::npos);
    }
    // No line may start with a roff control character by accident (a help text's "." or "'").
    std::istringstream in(m);
    for (std::string line; std::getline(in, line);)
        if (!line.empty() && (line[0] == '.' || line[0] == '\'')) {
            CAPTURE(line);
            CHECK(std::regex_match(line, std::regex(R"(\.(TH|SH|TP|B|BR|I|IR|PP|nf|fi|br)( .*)?)")));
        }
}
