#include "backfill/core/errors.hpp"

namespace backfill {

bool error::transient() const noexcept {
  if (cause_) {
    try {
      std::rethrow_exception(cause_);
    } catch (const error& cause) {
      return cause.transient();
    } catch (...) {
    }
  }
  return transient_kind();
}

}  // namespace backfill
