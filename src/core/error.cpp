#include "ned/core/error.hpp"

namespace ned {

int exit_code_for(const std::exception& e) noexcept {
    if (dynamic_cast<const InputError*>(&e)) return 2;
    if (dynamic_cast<const ModelError*>(&e)) return 3;
    return 1;
}

}  // namespace ned
