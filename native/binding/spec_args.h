// JS spec objects -> core specs. Every property read may run a getter; nothing here takes
// a typed-array pointer, and numbers are clamped before any integer cast.
#pragma once
#include <napi.h>

#include <string>

#include "../core/store_spec.h"

namespace hotpath {

// The FeatureStore constructor's spec ({ tables, streams, maxFutureMs }, as
// src/config/load.ts toStoreSpec builds it). False with *why on a shape error; the core
// (Store::Create) then refuses values that make no sense.
bool StoreSpecArg(Napi::Object o, StoreSpec* spec, std::string* why);

}  // namespace hotpath
