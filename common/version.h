// The project's version, from CMake's project(VERSION ...).
#pragma once

#include "common/version_generated.h"  // IWYU pragma: export
