// The JSON body of Pinecone's REST upsert (POST /vectors/upsert):
//   {"namespace":"ns","vectors":[{"id":"a","values":[0.1,...],"metadata":{...}},...]}
// Values are written in the shortest text that reads back as the same float32; metadata is copied
// as it is (records carry canonical, fitted JSON: pack/sanitize.hpp).
#pragma once

#include <string>
#include <string_view>

#include "backfill/pack/packer.hpp"

namespace backfill::pack {

class rest_upsert_encoder final : public encoder {
 public:
  explicit rest_upsert_encoder(std::string_view name_space);

  std::size_t overhead() const noexcept override { return head_.size() + 2; }
  std::size_t separator() const noexcept override { return 1; }
  std::size_t prepare(const record& r) override;
  void begin(std::string& body) override;
  void append(std::string& body, const record& r, bool first) override;
  void finish(std::string& body) override;

 private:
  std::string head_;  // {"namespace":"ns","vectors":[
  std::string one_;   // the prepared record's JSON (floats are written once, then copied)
};

}  // namespace backfill::pack
