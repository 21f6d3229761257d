# accel::abseil: the Abseil components accel's libraries use, linked as shared objects or as static
# archives, chosen by each executable.
#
# Debian ships Abseil as about 60 small shared objects, and mapping them costs a program milliseconds
# in the dynamic loader before main(). `accelctl launch` must add less than 10 ms to a whole launch
# (issue 3), so accelctl links the archives, which come in the same package (libabsl-dev):
#   set_target_properties(<executable> PROPERTIES ACCEL_STATIC_ABSEIL ON)
# Only a program in which no other shared library links Abseil may opt in: gRPC and protobuf do, and a
# second copy of Abseil's globals in one process would be a silent ODR violation. Everything else keeps
# the shared objects.

set(ACCEL_ABSEIL_COMPONENTS status statusor strings str_format time synchronization flat_hash_set)

# Creates accel_absl_static_<name>, the static twin of `absl_target` (absl::<name>): an IMPORTED STATIC
# library on the archive beside the shared object, linking the twins of what absl_target links.
# Header-only components become INTERFACE twins. A missing archive is recorded in the global property
# ACCEL_ABSEIL_MISSING_ARCHIVES.
function(_accel_absl_static_twin absl_target)
  string(REPLACE "absl::" "accel_absl_static_" twin "${absl_target}")
  if(TARGET ${twin})
    return()
  endif()
  get_target_property(type ${absl_target} TYPE)
  if(type STREQUAL "INTERFACE_LIBRARY")
    add_library(${twin} INTERFACE IMPORTED GLOBAL)
  else()
    get_target_property(shared_object ${absl_target} LOCATION)
    string(REGEX REPLACE "\\.so(\\.[0-9.]+)?$" ".a" archive "${shared_object}")
    if(NOT EXISTS "${archive}")
      set_property(GLOBAL APPEND PROPERTY ACCEL_ABSEIL_MISSING_ARCHIVES "${archive}")
      add_library(${twin} INTERFACE IMPORTED GLOBAL)
      return()
    endif()
    add_library(${twin} STATIC IMPORTED GLOBAL)
    set_target_properties(${twin} PROPERTIES IMPORTED_LOCATION "${archive}")
  endif()
  get_target_property(dependencies ${absl_target} INTERFACE_LINK_LIBRARIES)
  if(NOT dependencies)
    return()
  endif()
  set(twin_dependencies "")
  foreach(dependency IN LISTS dependencies)
    if(dependency MATCHES "^absl::")
      _accel_absl_static_twin(${dependency})
      string(REPLACE "absl::" "accel_absl_static_" dependency "${dependency}")
    endif()
    list(APPEND twin_dependencies "${dependency}")  # linker flags (-latomic ...) as they are
  endforeach()
  set_target_properties(${twin} PROPERTIES INTERFACE_LINK_LIBRARIES "${twin_dependencies}")
endfunction()

set(_accel_static "$<BOOL:$<TARGET_PROPERTY:ACCEL_STATIC_ABSEIL>>")  # evaluated on the executable
add_library(accel_abseil INTERFACE)
add_library(accel::abseil ALIAS accel_abseil)
foreach(component IN LISTS ACCEL_ABSEIL_COMPONENTS)
  _accel_absl_static_twin(absl::${component})
endforeach()
get_property(_accel_missing GLOBAL PROPERTY ACCEL_ABSEIL_MISSING_ARCHIVES)
if(_accel_missing)
  message(STATUS "accel: no static Abseil (${_accel_missing} missing); accelctl links the shared objects")
  set(_accel_static "0")
endif()
foreach(component IN LISTS ACCEL_ABSEIL_COMPONENTS)
  # One generator expression per item: a list inside $<IF:...> would be split by the property.
  target_link_libraries(accel_abseil INTERFACE "$<$<NOT:${_accel_static}>:absl::${component}>"
                                               "$<${_accel_static}:accel_absl_static_${component}>")
endforeach()
