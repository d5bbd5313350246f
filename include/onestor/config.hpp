// Settings in OpenNebula's KEY=VALUE style (like /etc/one/tmrc), read from the file named by
// $ONESTOR_CONF (default /etc/one/onestor.conf; a missing default file is fine), each key
// overridable from the environment as ONESTOR_<KEY>. Values are administrator input, trusted
// like tmrc; tool commands are split on blanks into argv words, never given to a shell.
#pragma once
#include <map>
#include <string>
#include <vector>

namespace onestor {

struct Setting {
    std::string key, default_value, help;  // help: one line, for the conf template and man page
};
// Every key the binary reads, in the order the template and man page list them.
const std::vector<Setting>& settings();

class Config {
public:
    // Built-in defaults, then the file, then the environment.
    static Config load();
    // For tests: defaults plus the given text in file syntax, no environment.
    static Config from_text(const std::string& text);

    std::string get(const std::string& key) const;
    long get_int(const std::string& key) const;
    bool get_bool(const std::string& key) const;
    std::vector<std::string> get_words(const std::string& key) const;           // a command: argv words
    std::vector<std::string> get_words_or_empty(const std::string& key) const;  // options: may be none
    void set(const std::string& key, const std::string& value) { values_[key] = value; }

    static std::map<std::string, std::string> parse(const std::string& text);

private:
    std::map<std::string, std::string> values_;
};

// The process-wide configuration, loaded once by main (tests may replace it).
Config& config();

}  // namespace onestor
