// Slack workspace export source: reads the zip Slack's export tool produces (or the folder it unpacks
// to), journals each day file as one page, and turns a conversation's pages into thread documents.
#include "backfill/sources/slack_export/slack_export.hpp"

#include <zip.h>

#include <simdjson.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "backfill/core/errors.hpp"
#include "backfill/core/json.hpp"
#include "backfill/core/log.hpp"

namespace backfill {
namespace fs = std::filesystem;

namespace {

using simdjson::dom::array;
using simdjson::dom::element;
using simdjson::dom::object;

// Root files that make up the "_workspace" partition, in page order. org_users.json (Enterprise Grid)
// stands in for users.json only when users.json is absent.
constexpr std::array<std::string_view, 6> workspace_files = {
    "users.json", "org_users.json", "channels.json", "groups.json", "mpims.json", "dms.json"};

struct conversation_list {
  std::string_view file;
  bool by_id;  // folders named by conversation id (dms) rather than by name
};
constexpr std::array<conversation_list, 4> conversation_lists = {{
    {"channels.json", false},
    {"groups.json", false},
    {"mpims.json", false},
    {"dms.json", true},
}};

// YYYY-MM-DD.json
bool is_day_file(std::string_view name) noexcept {
  if (name.size() != 15 || name.substr(10) != ".json") return false;
  for (std::size_t i = 0; i < 10; ++i) {
    const bool dash = (i == 4 || i == 7);
    const char c = name[i];
    if (dash ? c != '-' : (c < '0' || c > '9')) return false;
  }
  return true;
}

// A folder name taken from channels.json must stay a single path component.
bool safe_folder_name(std::string_view name) noexcept {
  if (name.empty() || name == "." || name == "..") return false;
  return name.find_first_of("/\\") == std::string_view::npos && name.find('\0') == std::string_view::npos;
}

bool ends_with_zip(const fs::path& p) {
  std::string ext = p.extension().string();
  for (auto& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext == ".zip";
}

// ---- small JSON helpers ----------------------------------------------------------------------

std::string_view str(object o, std::string_view key) noexcept {
  std::string_view v;
  if (o[key].get_string().get(v) != simdjson::SUCCESS) return {};
  return v;
}

std::optional<object> obj(object o, std::string_view key) noexcept {
  object v;
  if (o[key].get_object().get(v) != simdjson::SUCCESS) return std::nullopt;
  return v;
}

std::optional<array> arr(object o, std::string_view key) noexcept {
  array v;
  if (o[key].get_array().get(v) != simdjson::SUCCESS) return std::nullopt;
  return v;
}

const char* type_name(element e) noexcept {
  using simdjson::dom::element_type;
  switch (e.type()) {
    case element_type::ARRAY: return "an array";
    case element_type::OBJECT: return "an object";
    case element_type::STRING: return "a string";
    case element_type::INT64:
    case element_type::UINT64:
    case element_type::DOUBLE: return "a number";
    case element_type::BOOL: return "a boolean";
    case element_type::NULL_VALUE: return "null";
  }
  return "something else";
}

// Parses `body`, without a copy when it has simdjson padding capacity (journal pages do).
element parse_json(simdjson::dom::parser& parser, const std::string& body, const std::string& what) {
  element root;
  simdjson::error_code err;
  if (body.capacity() - body.size() >= simdjson::SIMDJSON_PADDING) {
    err = parser.parse(simdjson::padded_string_view(body.data(), body.size(), body.capacity())).get(root);
  } else {
    err = parser.parse(body.data(), body.size(), true).get(root);
  }
  if (err != simdjson::SUCCESS)
    throw source_error(what + ": invalid JSON: " + simdjson::error_message(err));
  return root;
}

array parse_array(simdjson::dom::parser& parser, const std::string& body, const std::string& what) {
  element root = parse_json(parser, body, what);
  array a;
  if (root.get_array().get(a) != simdjson::SUCCESS)
    throw source_error(what + ": expected a JSON array, got " + type_name(root));
  return a;
}

// ---- time ------------------------------------------------------------------------------------

// Slack ts "1699999999.000100" -> microseconds since the epoch.
std::optional<std::int64_t> parse_ts(std::string_view ts) noexcept {
  std::size_t i = 0;
  std::int64_t secs = 0;
  std::size_t int_digits = 0;
  while (i < ts.size() && ts[i] >= '0' && ts[i] <= '9') {
    if (++int_digits > 12) return std::nullopt;
    secs = secs * 10 + (ts[i] - '0');
    ++i;
  }
  if (int_digits == 0) return std::nullopt;
  std::int64_t frac = 0;
  if (i < ts.size()) {
    if (ts[i] != '.') return std::nullopt;
    ++i;
    std::size_t frac_digits = 0;
    for (; i < ts.size(); ++i) {
      if (ts[i] < '0' || ts[i] > '9') return std::nullopt;
      if (frac_digits < 6) {
        frac = frac * 10 + (ts[i] - '0');
        ++frac_digits;
      }
    }
    for (; frac_digits < 6; ++frac_digits) frac *= 10;
  }
  return secs * 1000000 + frac;
}

// Days since 1970-01-01 -> civil date (H. Hinnant's algorithm).
void civil_from_days(std::int64_t z, std::int64_t& y, unsigned& m, unsigned& d) noexcept {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  y = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  if (m <= 2) ++y;
}

std::string iso_utc(std::int64_t micros) {
  std::int64_t secs = micros / 1000000;
  if (micros % 1000000 < 0) --secs;
  std::int64_t days = secs / 86400;
  std::int64_t rem = secs % 86400;
  if (rem < 0) {
    rem += 86400;
    --days;
  }
  std::int64_t y = 0;
  unsigned m = 0, d = 0;
  civil_from_days(days, y, m, d);
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02lld:%02lld:%02lldZ", static_cast<long long>(y), m, d,
                static_cast<long long>(rem / 3600), static_cast<long long>((rem / 60) % 60),
                static_cast<long long>(rem % 60));
  return buf;
}

// ---- Slack markup ----------------------------------------------------------------------------

void append_unescaped(std::string& out, std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    std::size_t amp = s.find('&', i);
    if (amp == std::string_view::npos) {
      out.append(s.substr(i));
      return;
    }
    out.append(s.substr(i, amp - i));
    std::string_view rest = s.substr(amp);
    if (rest.starts_with("&amp;")) {
      out.push_back('&');
      i = amp + 5;
    } else if (rest.starts_with("&lt;")) {
      out.push_back('<');
      i = amp + 4;
    } else if (rest.starts_with("&gt;")) {
      out.push_back('>');
      i = amp + 4;
    } else {
      out.push_back('&');
      i = amp + 1;
    }
  }
}

std::string unescaped(std::string_view s) {
  std::string out;
  append_unescaped(out, s);
  return out;
}

// Who is who and what is what in the workspace, from the "_workspace" pages.
struct directory {
  std::unordered_map<std::string, std::string> users;     // id -> display name
  std::unordered_map<std::string, std::string> channels;  // id -> name

  const std::string* user(std::string_view id) const {
    auto it = users.find(std::string(id));
    return it == users.end() ? nullptr : &it->second;
  }
  const std::string* channel(std::string_view id) const {
    auto it = channels.find(std::string(id));
    return it == channels.end() ? nullptr : &it->second;
  }
};

std::string display_name(object user, std::string_view id) {
  if (auto profile = obj(user, "profile")) {
    if (auto v = str(*profile, "display_name"); !v.empty()) return std::string(v);
    if (auto v = str(*profile, "real_name"); !v.empty()) return std::string(v);
  }
  if (auto v = str(user, "real_name"); !v.empty()) return std::string(v);
  if (auto v = str(user, "name"); !v.empty()) return std::string(v);
  return std::string(id);
}

// One `<...>` entity of Slack's markup, without the brackets.
void render_entity(std::string& out, std::string_view tag, const directory& dir) {
  const std::size_t bar = tag.find('|');
  const std::string_view target = tag.substr(0, bar);
  const bool has_label = bar != std::string_view::npos;
  const std::string_view label = has_label ? tag.substr(bar + 1) : std::string_view{};
  if (target.empty()) {
    append_unescaped(out, label);
    return;
  }
  // <@U123|label> and <#C123|label>: the sigil, then the directory's name, else the label, else the id.
  const auto mention = [&](char sigil, const std::string* name) {
    out.push_back(sigil);
    if (name) {
      out.append(*name);
    } else if (has_label && !label.empty()) {
      append_unescaped(out, label.front() == sigil ? label.substr(1) : label);
    } else {
      out.append(target.substr(1));
    }
  };
  switch (target.front()) {
    case '@':
      mention('@', dir.user(target.substr(1)));
      return;
    case '#':
      mention('#', dir.channel(target.substr(1)));
      return;
    case '!': {
      const std::string_view command = target.substr(1);
      const std::size_t caret = command.find('^');
      const std::string_view word = command.substr(0, caret);
      if (word == "here" || word == "channel" || word == "everyone" || word == "group") {
        out.push_back('@');
        out.append(word);
      } else if (has_label && !label.empty()) {
        append_unescaped(out, label);
      } else if (word == "subteam" && caret != std::string_view::npos) {
        out.push_back('@');
        out.append(command.substr(caret + 1));
      } else {
        append_unescaped(out, command);
      }
      return;
    }
    default: {
      const std::string url = unescaped(target);
      if (!has_label || label.empty()) {
        out.append(url);
        return;
      }
      const std::string text = unescaped(label);
      if (text == url || "mailto:" + text == url) {
        out.append(text);
      } else {
        out.append(text);
        out.append(" (");
        out.append(url);
        out.push_back(')');
      }
      return;
    }
  }
}

std::string render(std::string_view s, const directory& dir) {
  std::string out;
  out.reserve(s.size());
  std::size_t i = 0;
  while (i < s.size()) {
    const std::size_t lt = s.find('<', i);
    if (lt == std::string_view::npos) {
      append_unescaped(out, s.substr(i));
      break;
    }
    append_unescaped(out, s.substr(i, lt - i));
    const std::size_t gt = s.find('>', lt + 1);
    const std::size_t next_lt = s.find('<', lt + 1);
    if (gt == std::string_view::npos || next_lt < gt) {  // a stray '<': keep it as text
      out.push_back('<');
      i = lt + 1;
      continue;
    }
    render_entity(out, s.substr(lt + 1, gt - lt - 1), dir);
    i = gt + 1;
  }
  return out;
}

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::string_view first_line(std::string_view s) noexcept {
  s = trim(s);
  return trim(s.substr(0, s.find('\n')));
}

// ---- messages and threads --------------------------------------------------------------------

// Where a message belongs: the root of its thread, and whether it is a reply.
struct placement {
  std::int64_t ts_us = 0;
  std::string_view ts;
  std::int64_t root_us = 0;
  std::string_view root_ts;
  bool reply = false;
};

struct message {
  std::int64_t ts_us = 0;
  std::int64_t edited_us = -1;
  std::string ts;
  std::string author;
  std::string text;                 // rendered
  std::vector<std::string> extras;  // [file: ...], [attachment: ...]
  bool edited = false;
  bool has_files = false;
};

struct thread_buffer {
  std::string root_ts;
  std::int64_t last_seq = 0;
  std::optional<message> parent;
  std::vector<message> replies;
};

// The newer copy of a message seen twice wins (by edit time), otherwise the first.
void keep_newer(message& have, message&& other) {
  if (other.edited_us > have.edited_us) have = std::move(other);
}

std::string files_label(object file) {
  std::string_view name = str(file, "title");
  if (name.empty()) name = str(file, "name");
  if (name.empty()) return {};
  return "[file: " + std::string(name) + "]";
}

}  // namespace

// ---- impl --------------------------------------------------------------------------------------

struct slack_export_source::impl {
  struct conversation {
    std::string id;
    std::string label;
    std::string folder;  // empty when the export has no folder for it
  };

  slack_export_options options;
  bool zipped = false;
  std::string base_url;
  std::unordered_set<std::string> skip;

  // zip form
  zip_t* archive = nullptr;
  std::mutex zip_mutex;
  std::string prefix;  // folder inside the zip that holds channels.json ("" or "name/")
  std::unordered_map<std::string, zip_uint64_t> entries;             // relative name -> index
  std::map<std::string, std::vector<std::string>> zip_day_files;    // folder -> sorted day files

  std::atomic<std::int64_t> files_read{0};

  std::mutex conversations_mutex;
  bool conversations_loaded = false;
  std::vector<conversation> conversations;
  std::unordered_map<std::string, std::size_t> conversation_index;

  // Parsers are reused; a small pool keeps concurrent fetches and nested calls safe.
  std::mutex parser_mutex;
  std::vector<std::unique_ptr<simdjson::dom::parser>> parsers;

  class parser_lease {
   public:
    explicit parser_lease(impl& owner) : owner_(owner) {
      std::lock_guard lock(owner_.parser_mutex);
      if (owner_.parsers.empty()) {
        parser_ = std::make_unique<simdjson::dom::parser>();
      } else {
        parser_ = std::move(owner_.parsers.back());
        owner_.parsers.pop_back();
      }
    }
    ~parser_lease() {
      std::lock_guard lock(owner_.parser_mutex);
      owner_.parsers.push_back(std::move(parser_));
    }
    parser_lease(const parser_lease&) = delete;
    parser_lease& operator=(const parser_lease&) = delete;
    simdjson::dom::parser& operator*() { return *parser_; }

   private:
    impl& owner_;
    std::unique_ptr<simdjson::dom::parser> parser_;
  };

  explicit impl(slack_export_options opts) : options(std::move(opts)) {
    base_url = options.workspace_url.empty() ? std::string("https://slack.com") : options.workspace_url;
    while (!base_url.empty() && base_url.back() == '/') base_url.pop_back();
    skip.insert(options.skip_subtypes.begin(), options.skip_subtypes.end());

    std::error_code ec;
    const auto status = fs::status(options.path, ec);
    if (ec || !fs::exists(status))
      throw config_error("slack_export: " + options.path.string() + " does not exist");
    if (fs::is_directory(status)) {
      zipped = false;
      return;
    }
    if (!fs::is_regular_file(status) || !ends_with_zip(options.path))
      throw config_error("slack_export: " + options.path.string() +
                         " is neither a .zip file nor a folder of an unpacked export");
    open_zip();
  }

  ~impl() {
    if (archive) zip_discard(archive);
    logger()->debug("slack_export: {} files read from {}", files_read.load(), options.path.string());
  }
  impl(const impl&) = delete;
  impl& operator=(const impl&) = delete;

  void open_zip() {
    int code = 0;
    archive = zip_open(options.path.c_str(), ZIP_RDONLY, &code);
    if (!archive) {
      zip_error_t err;
      zip_error_init_with_code(&err, code);
      std::string message = zip_error_strerror(&err);
      zip_error_fini(&err);
      throw config_error("slack_export: " + options.path.string() + " is not a readable zip file: " + message);
    }
    zipped = true;
    const zip_int64_t n = zip_get_num_entries(archive, 0);
    std::vector<std::pair<std::string, zip_uint64_t>> names;
    names.reserve(static_cast<std::size_t>(std::max<zip_int64_t>(n, 0)));
    for (zip_int64_t i = 0; i < n; ++i) {
      const char* name = zip_get_name(archive, static_cast<zip_uint64_t>(i), ZIP_FL_ENC_GUESS);
      if (name) names.emplace_back(name, static_cast<zip_uint64_t>(i));
    }
    // An export that was unpacked and zipped again has everything inside one folder.
    bool at_root = false;
    std::string nested;
    for (const auto& [name, index] : names) {
      if (name == "channels.json") at_root = true;
      const std::size_t slash = name.find('/');
      if (slash != std::string::npos && name.substr(slash + 1) == "channels.json" &&
          name.compare(0, slash, "__MACOSX") != 0 && nested.empty())
        nested = name.substr(0, slash + 1);
    }
    if (!at_root) prefix = nested;
    for (auto& [name, index] : names) {
      if (name.compare(0, prefix.size(), prefix) != 0) continue;
      std::string rel = name.substr(prefix.size());
      if (rel.empty() || rel.back() == '/') continue;
      const std::size_t slash = rel.find('/');
      if (slash != std::string::npos && rel.find('/', slash + 1) == std::string::npos &&
          is_day_file(std::string_view(rel).substr(slash + 1)))
        zip_day_files[rel.substr(0, slash)].push_back(rel.substr(slash + 1));
      entries.emplace(std::move(rel), index);
    }
    for (auto& [folder, files] : zip_day_files) std::sort(files.begin(), files.end());
  }

  std::string where(std::string_view rel) const {
    return "slack export " + options.path.string() + ": " + std::string(rel);
  }

  bool has_file(const std::string& rel) const {
    if (zipped) return entries.count(rel) != 0;
    std::error_code ec;
    return fs::is_regular_file(options.path / rel, ec);
  }

  // Reads one file of the export into a string with simdjson padding capacity.
  std::optional<std::string> read_file(const std::string& rel) {
    std::string body;
    if (zipped) {
      auto it = entries.find(rel);
      if (it == entries.end()) return std::nullopt;
      std::lock_guard lock(zip_mutex);
      zip_stat_t st;
      zip_stat_init(&st);
      if (zip_stat_index(archive, it->second, 0, &st) != 0)
        throw io_error(where(rel) + ": " + zip_strerror(archive));
      zip_file_t* file = zip_fopen_index(archive, it->second, 0);
      if (!file) throw io_error(where(rel) + ": cannot open: " + zip_strerror(archive));
      const std::size_t expected = (st.valid & ZIP_STAT_SIZE) ? static_cast<std::size_t>(st.size) : 0;
      body.reserve(expected + simdjson::SIMDJSON_PADDING);
      char buf[65536];
      for (;;) {
        const zip_int64_t got = zip_fread(file, buf, sizeof buf);
        if (got < 0) {
          std::string message = zip_file_strerror(file);
          zip_fclose(file);
          throw io_error(where(rel) + ": cannot read: " + message);
        }
        if (got == 0) break;
        body.append(buf, static_cast<std::size_t>(got));
      }
      zip_fclose(file);
    } else {
      const fs::path path = options.path / rel;
      std::error_code ec;
      if (!fs::is_regular_file(path, ec)) return std::nullopt;
      std::ifstream in(path, std::ios::binary);
      if (!in) throw io_error(where(rel) + ": cannot open");
      const auto size = fs::file_size(path, ec);
      if (ec) throw io_error(where(rel) + ": " + ec.message());
      body.resize(static_cast<std::size_t>(size));
      body.reserve(body.size() + simdjson::SIMDJSON_PADDING);
      in.read(body.data(), static_cast<std::streamsize>(body.size()));
      if (in.gcount() != static_cast<std::streamsize>(body.size()))
        throw io_error(where(rel) + ": short read");
    }
    if (body.capacity() - body.size() < simdjson::SIMDJSON_PADDING)
      body.reserve(body.size() + simdjson::SIMDJSON_PADDING);
    files_read.fetch_add(1, std::memory_order_relaxed);
    return body;
  }

  std::vector<std::string> day_files(const std::string& folder) const {
    if (folder.empty()) return {};
    if (zipped) {
      auto it = zip_day_files.find(folder);
      return it == zip_day_files.end() ? std::vector<std::string>{} : it->second;
    }
    std::vector<std::string> files;
    std::error_code ec;
    fs::directory_iterator it(options.path / folder, ec);
    if (ec) return files;
    for (const auto& entry : it) {
      std::string name = entry.path().filename().string();
      if (is_day_file(name) && entry.is_regular_file(ec)) files.push_back(std::move(name));
    }
    std::sort(files.begin(), files.end());
    return files;
  }

  bool has_folder(const std::string& folder) const {
    if (zipped) return zip_day_files.count(folder) != 0;
    std::error_code ec;
    return fs::is_directory(options.path / folder, ec);
  }

  // The workspace files present, in page order.
  std::vector<std::string> workspace_pages() const {
    std::vector<std::string> files;
    const bool users = has_file("users.json");
    for (auto name : workspace_files) {
      if (name == "org_users.json" && users) continue;
      std::string file(name);
      if (has_file(file)) files.push_back(std::move(file));
    }
    return files;
  }

  void load_conversations() {
    std::lock_guard lock(conversations_mutex);
    if (conversations_loaded) return;
    if (!has_file("channels.json")) throw source_error(where("channels.json") + " not found");
    std::vector<conversation> found;
    std::unordered_map<std::string, std::size_t> index;
    for (const auto& list : conversation_lists) {
      const std::string file(list.file);
      auto body = read_file(file);
      if (!body) continue;
      parser_lease parser(*this);
      const array items = parse_array(*parser, *body, where(file));
      for (element item : items) {
        object o;
        if (item.get_object().get(o) != simdjson::SUCCESS) continue;
        const std::string_view id = str(o, "id");
        if (id.empty()) {
          logger()->warn("slack_export: a conversation in {} has no id; skipped", file);
          continue;
        }
        if (index.count(std::string(id))) continue;
        const std::string_view name = str(o, "name");
        conversation c;
        c.id = std::string(id);
        c.label = "#" + std::string(list.by_id || name.empty() ? id : name);
        const std::string_view folder = list.by_id ? id : name;
        if (safe_folder_name(folder) && has_folder(std::string(folder))) c.folder = std::string(folder);
        index.emplace(c.id, found.size());
        found.push_back(std::move(c));
      }
    }
    conversations = std::move(found);
    conversation_index = std::move(index);
    conversations_loaded = true;
  }

  const conversation& find_conversation(std::string_view id) {
    load_conversations();
    auto it = conversation_index.find(std::string(id));
    if (it == conversation_index.end())
      throw source_error("slack export " + options.path.string() + ": no conversation with id " +
                         std::string(id) + " in channels.json, groups.json, mpims.json or dms.json");
    return conversations[it->second];
  }

  std::int64_t count_items(const std::string& body, const std::string& rel) {
    parser_lease parser(*this);
    const array items = parse_array(*parser, body, where(rel));
    std::size_t n = items.size();
    if (n >= 0xFFFFFF) {  // simdjson saturates the stored count: count by walking
      n = 0;
      for ([[maybe_unused]] element e : items) ++n;
    }
    return static_cast<std::int64_t>(n);
  }

  // ---- normalize helpers ----

  directory load_directory(page_reader& pages) {
    directory dir;
    parser_lease parser(*this);
    pages.for_each_in(workspace_partition, [&](std::int64_t, const std::string& body, const std::string& path) {
      const array items = parse_array(*parser, body, "slack export page " + path);
      for (element item : items) {
        object o;
        if (item.get_object().get(o) != simdjson::SUCCESS) continue;
        const std::string_view id = str(o, "id");
        if (id.empty()) continue;
        const bool is_user = obj(o, "profile").has_value() || !str(o, "real_name").empty();
        if (is_user) {
          dir.users.emplace(std::string(id), display_name(o, id));
        } else if (auto name = str(o, "name"); !name.empty()) {
          dir.channels.emplace(std::string(id), std::string(name));
        }
      }
    });
    return dir;
  }

  bool skipped(object m) const {
    const std::string_view subtype = str(m, "subtype");
    return !subtype.empty() && skip.count(std::string(subtype)) != 0;
  }

  // nullopt when the message has no usable ts.
  static std::optional<placement> place(object m) {
    placement p;
    p.ts = str(m, "ts");
    auto ts = parse_ts(p.ts);
    if (!ts) return std::nullopt;
    p.ts_us = *ts;
    p.root_us = p.ts_us;
    p.root_ts = p.ts;
    const std::string_view thread_ts = str(m, "thread_ts");
    if (!thread_ts.empty() && thread_ts != p.ts) {
      if (auto root = parse_ts(thread_ts)) {
        p.reply = true;
        p.root_us = *root;
        p.root_ts = thread_ts;
      }
    }
    return p;
  }

  std::string author_of(object m, const directory& dir) const {
    const std::string_view subtype = str(m, "subtype");
    const std::string_view user = str(m, "user");
    if (subtype == "bot_message" || !str(m, "bot_id").empty()) {
      std::string name(str(m, "username"));
      if (name.empty())
        if (auto bot = obj(m, "bot_profile")) name = std::string(str(*bot, "name"));
      if (name.empty() && !user.empty())
        if (const std::string* known = dir.user(user)) name = *known;
      if (name.empty()) name = std::string(str(m, "bot_id"));
      if (name.empty()) name = "bot";
      return name + " (bot)";
    }
    if (!user.empty()) {
      if (const std::string* known = dir.user(user)) return *known;
      if (auto profile = obj(m, "user_profile")) {
        for (auto key : {"display_name", "real_name", "name"})
          if (auto v = str(*profile, key); !v.empty()) return std::string(v);
      }
      return std::string(user);
    }
    if (auto name = str(m, "username"); !name.empty()) return std::string(name);
    return "unknown";
  }

  message read_message(object m, const placement& p, const directory& dir) const {
    message msg;
    msg.ts_us = p.ts_us;
    msg.ts = std::string(p.ts);
    msg.author = author_of(m, dir);
    msg.text = render(str(m, "text"), dir);
    if (auto edited = obj(m, "edited")) {
      msg.edited = true;
      if (auto ets = parse_ts(str(*edited, "ts"))) msg.edited_us = *ets;
    }
    if (auto files = arr(m, "files")) {
      for (element f : *files) {
        msg.has_files = true;
        object fo;
        if (f.get_object().get(fo) != simdjson::SUCCESS) continue;
        if (auto label = files_label(fo); !label.empty()) msg.extras.push_back(std::move(label));
      }
    } else if (auto file = obj(m, "file")) {  // older exports: a single file object
      msg.has_files = true;
      if (auto label = files_label(*file); !label.empty()) msg.extras.push_back(std::move(label));
    }
    if (auto attachments = arr(m, "attachments")) {
      for (element a : *attachments) {
        object ao;
        if (a.get_object().get(ao) != simdjson::SUCCESS) continue;
        const std::string title = render(str(ao, "title"), dir);
        std::string_view raw = str(ao, "text");
        if (raw.empty()) raw = str(ao, "fallback");
        std::string body = render(raw, dir);
        if (body == title) body.clear();
        std::string link = unescaped(str(ao, "title_link"));
        if (link.empty()) link = unescaped(str(ao, "from_url"));
        if (title.empty() && body.empty() && link.empty()) continue;
        std::string label = "[attachment: " + title;
        if (!title.empty() && !body.empty()) label += ": ";
        label += body;
        if (!link.empty()) {
          if (!title.empty() || !body.empty()) label += ' ';
          label += link;
        }
        label += ']';
        msg.extras.push_back(std::move(label));
      }
    }
    return msg;
  }

  document build(std::string_view channel_id, const std::string& channel_name, thread_buffer&& t) const {
    std::sort(t.replies.begin(), t.replies.end(),
              [](const message& a, const message& b) { return a.ts_us < b.ts_us; });
    std::vector<message> replies;
    replies.reserve(t.replies.size());
    for (auto& r : t.replies) {
      if (t.parent && r.ts_us == t.parent->ts_us) {
        keep_newer(*t.parent, std::move(r));
      } else if (!replies.empty() && replies.back().ts_us == r.ts_us) {
        keep_newer(replies.back(), std::move(r));
      } else {
        replies.push_back(std::move(r));
      }
    }

    document doc;
    doc.id = "slack:" + std::string(channel_id) + ":" + t.root_ts;
    doc.source = "slack_export";
    doc.partition = std::string(channel_id);

    const message* head = t.parent ? &*t.parent : (replies.empty() ? nullptr : &replies.front());
    std::string_view line;
    if (head) {
      line = first_line(head->text);
      if (line.empty() && !head->extras.empty()) line = first_line(head->extras.front());
    }
    if (line.empty()) line = "(no text)";
    doc.title = "#" + channel_name + ": ";
    if (!t.parent) doc.title += "[thread whose parent message is missing] ";
    doc.title += json::utf8_prefix(line, 80);

    std::string ts_digits;
    for (char c : t.root_ts)
      if (c != '.') ts_digits.push_back(c);
    doc.url = base_url + "/archives/" + std::string(channel_id) + "/p" + ts_digits;

    const auto root_us = parse_ts(t.root_ts).value_or(head ? head->ts_us : 0);
    doc.created_at = iso_utc(root_us);
    std::int64_t updated = root_us;

    std::vector<std::string> participants;
    bool has_files = false;
    auto add = [&](const message& m) {
      updated = std::max({updated, m.ts_us, m.edited_us});
      has_files = has_files || m.has_files;
      if (std::find(participants.begin(), participants.end(), m.author) == participants.end())
        participants.push_back(m.author);
      if (!doc.text.empty()) doc.text += "\n\n";
      doc.text += m.author;
      doc.text += " (";
      doc.text += iso_utc(m.ts_us);
      doc.text += ')';
      if (m.edited) doc.text += " (edited)";
      doc.text += ": ";
      std::size_t parts = 0;
      if (!m.text.empty()) {
        doc.text += m.text;
        ++parts;
      }
      for (const auto& extra : m.extras) {
        if (parts++ > 0) doc.text += '\n';
        doc.text += extra;
      }
    };
    if (t.parent) add(*t.parent);
    for (const auto& r : replies) add(r);
    doc.updated_at = iso_utc(updated);

    doc.meta.set("channel", channel_name);
    doc.meta.set("channel_id", std::string(channel_id));
    doc.meta.set("author", head ? head->author : std::string());
    doc.meta.set("participants", std::move(participants));
    doc.meta.set("reply_count", static_cast<double>(replies.size()));
    doc.meta.set("has_files", has_files);
    doc.meta.set("thread", !replies.empty());
    if (!t.parent) doc.meta.set("parent_missing", true);
    return doc;
  }

  void normalize(std::string_view partition, page_reader& pages, const document_fn& emit, run_context& ctx) {
    if (partition == workspace_partition) return;
    const directory dir = load_directory(pages);
    const std::string channel_name = [&] {
      const std::string* name = dir.channel(partition);
      return name ? *name : std::string(partition);
    }();
    parser_lease parser(*this);

    // Pass 1: for every thread with replies, the last page that holds a message of it.
    std::unordered_map<std::int64_t, std::int64_t> last_page;
    pages.for_each([&](std::int64_t seq, const std::string& body, const std::string& path) {
      ctx.checkpoint();
      const array items = parse_array(*parser, body, "slack export page " + path);
      for (element item : items) {
        object m;
        if (item.get_object().get(m) != simdjson::SUCCESS || skipped(m)) continue;
        auto p = place(m);
        if (!p) continue;
        if (p->reply) {
          auto [it, inserted] = last_page.try_emplace(p->root_us, seq);
          if (!inserted) it->second = std::max(it->second, seq);
        } else if (auto it = last_page.find(p->root_us); it != last_page.end()) {
          it->second = std::max(it->second, seq);  // a parent after (some of) its replies
        }
      }
    });

    // Pass 2: buffer open threads only; emit each once the pass is beyond its last page.
    std::map<std::int64_t, thread_buffer> open;
    std::int64_t bad_ts = 0;
    auto flush = [&](std::int64_t upto, bool all) {
      for (auto it = open.begin(); it != open.end();) {
        if (all || it->second.last_seq <= upto) {
          emit(build(partition, channel_name, std::move(it->second)));
          it = open.erase(it);
        } else {
          ++it;
        }
      }
    };
    pages.for_each([&](std::int64_t seq, const std::string& body, const std::string& path) {
      ctx.checkpoint();
      const array items = parse_array(*parser, body, "slack export page " + path);
      for (element item : items) {
        object m;
        if (item.get_object().get(m) != simdjson::SUCCESS || skipped(m)) continue;
        auto p = place(m);
        if (!p) {
          ++bad_ts;
          continue;
        }
        auto [it, inserted] = open.try_emplace(p->root_us);
        thread_buffer& t = it->second;
        if (inserted) {
          t.root_ts = std::string(p->root_ts);
          auto last = last_page.find(p->root_us);
          t.last_seq = last == last_page.end() ? seq : std::max(seq, last->second);
        }
        message msg = read_message(m, *p, dir);
        if (p->reply) {
          t.replies.push_back(std::move(msg));
        } else if (t.parent) {
          keep_newer(*t.parent, std::move(msg));
        } else {
          t.parent = std::move(msg);
        }
      }
      flush(seq, false);
    });
    flush(0, true);
    if (bad_ts > 0)
      logger()->warn("slack_export: {} messages in {} without a valid ts were skipped", bad_ts, partition);
  }
};

// ---- public interface ----------------------------------------------------------------------------

slack_export_source::slack_export_source(slack_export_options options)
    : impl_(std::make_unique<impl>(std::move(options))) {}

slack_export_source::~slack_export_source() = default;

std::string slack_export_source::describe() const {
  return std::string("Slack export ") + (impl_->zipped ? "zip " : "folder ") + impl_->options.path.string();
}

std::vector<partition_plan> slack_export_source::plan(run_context& ctx) {
  impl_->load_conversations();
  std::vector<partition_plan> plans;
  plans.reserve(impl_->conversations.size() + 1);
  partition_plan workspace;
  workspace.name = workspace_partition;
  workspace.label = "workspace (users and conversations)";
  workspace.estimated_pages = static_cast<std::int64_t>(impl_->workspace_pages().size());
  plans.push_back(std::move(workspace));
  for (const auto& c : impl_->conversations) {
    ctx.checkpoint();
    partition_plan p;
    p.name = c.id;
    p.label = c.label;
    p.estimated_pages = static_cast<std::int64_t>(impl_->day_files(c.folder).size());
    plans.push_back(std::move(p));
  }
  return plans;
}

void slack_export_source::fetch(const partition_plan& partition, std::string_view cursor, page_sink& out,
                                run_context& ctx) {
  if (partition.name == workspace_partition) {
    const std::vector<std::string> files = impl_->workspace_pages();
    std::size_t start = 0;
    if (!cursor.empty()) {
      auto canon = std::find(workspace_files.begin(), workspace_files.end(), cursor);
      if (canon == workspace_files.end())
        throw source_error("slack export: invalid cursor '" + std::string(cursor) + "' for " +
                           workspace_partition);
      const auto rank = [](std::string_view f) {
        return std::find(workspace_files.begin(), workspace_files.end(), f) - workspace_files.begin();
      };
      while (start < files.size() && rank(files[start]) < canon - workspace_files.begin()) ++start;
    }
    for (std::size_t i = start; i < files.size(); ++i) {
      ctx.checkpoint();
      auto body = impl_->read_file(files[i]);
      if (!body) throw source_error(impl_->where(files[i]) + " disappeared while fetching");
      const std::int64_t items = impl_->count_items(*body, files[i]);
      out.page(*body, items, i + 1 < files.size() ? std::string_view(files[i + 1]) : std::string_view());
    }
    return;
  }

  const auto& conv = impl_->find_conversation(partition.name);
  const std::string folder = conv.folder;
  const std::vector<std::string> files = impl_->day_files(folder);
  std::size_t start = 0;
  if (!cursor.empty()) {
    if (!is_day_file(cursor))
      throw source_error("slack export: invalid cursor '" + std::string(cursor) + "' for " + partition.name +
                         " (expected a YYYY-MM-DD.json file name)");
    start = static_cast<std::size_t>(std::lower_bound(files.begin(), files.end(), cursor) - files.begin());
  }
  for (std::size_t i = start; i < files.size(); ++i) {
    ctx.checkpoint();
    const std::string rel = folder + "/" + files[i];
    auto body = impl_->read_file(rel);
    if (!body) throw source_error(impl_->where(rel) + " disappeared while fetching");
    const std::int64_t items = impl_->count_items(*body, rel);
    out.page(*body, items, i + 1 < files.size() ? std::string_view(files[i + 1]) : std::string_view());
  }
}

void slack_export_source::page_items(std::string_view partition, const std::string& body, const item_fn& fn) {
  if (partition == workspace_partition) return;
  impl::parser_lease parser(*impl_);
  const array items = parse_array(*parser, body, "slack export page of " + std::string(partition));
  std::string id;
  for (element item : items) {
    object m;
    if (item.get_object().get(m) != simdjson::SUCCESS) continue;
    const std::string_view ts = str(m, "ts");
    if (ts.empty()) continue;
    id.assign("slack:").append(partition).append(":").append(ts);
    fn(id);
  }
}

void slack_export_source::normalize(std::string_view partition, page_reader& pages, const document_fn& emit,
                                    run_context& ctx) {
  impl_->normalize(partition, pages, emit, ctx);
}

}  // namespace backfill
