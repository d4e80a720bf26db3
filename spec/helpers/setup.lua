-- busted helper: find the C core of the build in use (FEEDHOST_BUILD, default build/).
local build = os.getenv("FEEDHOST_BUILD") or "build"
package.cpath = build .. "/lua/?.so;" .. package.cpath
