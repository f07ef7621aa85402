# Runs a generated Vivado / Vivado HLS Tcl script under plain tclsh with the tool commands stubbed.
#
#   tclsh stub_vivado.tcl SCRIPT CALLS_FILE [script arguments...]
#
# Every tool command the script calls is recorded in CALLS_FILE (one call per line, words separated
# by the ASCII unit separator 0x1f). Only
# commands in ::known exist: anything else (a typo, a command Vivado does not have) is an error,
# as are pins of block-design cells that were never created. The stubs behave like the tools
# where the scripts depend on it: create_project writes the .xpr, launch_runs writes the .bit and
# the .hwh where Vivado puts them, the HLS commands write their reports and the exported IP.
# Environment: STUB_BOARD_PART (get_board_parts answer), STUB_FAIL (a command that fails),
# STUB_NO_PRODUCTS=1 (commands succeed but write nothing).

set ::known {
    create_project open_project close_project current_project current_fileset set_property get_property
    get_board_parts get_ipdefs update_ip_catalog create_bd_design create_bd_cell apply_bd_automation
    get_bd_cells get_bd_pins get_bd_intf_pins connect_bd_net connect_bd_intf_net get_bd_addr_spaces
    get_bd_addr_segs assign_bd_address validate_bd_design save_bd_design make_wrapper get_files add_files
    update_compile_order reset_run launch_runs wait_on_run get_runs open_run report_utilization
    report_timing_summary write_hw_platform
    ipx::package_project ipx::current_core ipx::infer_bus_interfaces ipx::get_bus_interfaces
    ipx::associate_bus_interfaces ipx::create_xgui_files ipx::update_checksums ipx::check_integrity ipx::save_core
    set_top open_solution set_part create_clock csim_design csynth_design cosim_design export_design
}
set ::calls {}
set ::cells {}
set ::proj_dir ""
set ::proj_name ""
set ::hls_project ""
set ::hls_solution ""

proc env_or {name default} {
    if {[info exists ::env($name)]} { return $::env($name) }
    return $default
}
proc products {} { return [expr {[env_or STUB_NO_PRODUCTS 0] ne "1"}] }
proc touch {path {text ""}} {
    if {![products]} { return }
    file mkdir [file dirname $path]
    set fh [open $path w]
    puts -nonewline $fh $text
    close $fh
}
proc record {name args} {
    if {[lsearch -exact $::known $name] < 0} {
        error "stub: '$name' is not a Vivado / Vivado HLS command"
    }
    lappend ::calls [concat [list $name] $args]
    if {$name eq [env_or STUB_FAIL ""]} {
        error "stub: $name failed (STUB_FAIL)"
    }
}
proc unknown {name args} {
    record $name {*}$args
    return ""
}
# Block-design objects are "/cell" or "/cell/pin"; pins must belong to created cells.
proc bd_object {kind args} {
    set path [string trimleft [lindex $args end] /]
    set cell [lindex [split $path /] 0]
    if {[lsearch -exact $::cells $cell] < 0} {
        error "stub: $kind $path: no cell '$cell' was created (cells: $::cells)"
    }
    return "/$path"
}
proc create_bd_cell {args} {
    record create_bd_cell {*}$args
    set name [lindex $args end]
    if {[lsearch -exact $::cells $name] >= 0} { error "stub: cell $name created twice" }
    lappend ::cells $name
    return "/$name"
}
proc get_bd_cells {args} { record get_bd_cells {*}$args; return [bd_object cell {*}$args] }
proc get_bd_pins {args} { record get_bd_pins {*}$args; return [bd_object pin {*}$args] }
proc get_bd_intf_pins {args} { record get_bd_intf_pins {*}$args; return [bd_object interface {*}$args] }
proc get_bd_addr_spaces {args} { record get_bd_addr_spaces {*}$args; return [bd_object {address space} {*}$args] }
proc get_bd_addr_segs {args} { record get_bd_addr_segs {*}$args; return [bd_object {address segment} {*}$args] }
proc get_board_parts {args} { record get_board_parts {*}$args; return [env_or STUB_BOARD_PART ""] }
proc get_ipdefs {args} {
    record get_ipdefs {*}$args
    set i [lsearch -exact $args -filter]
    if {$i >= 0} {
        regexp {xilinx\.com:ip:([A-Za-z0-9_]+):\*} [lindex $args [expr {$i + 1}]] -> name
        return [list xilinx.com:ip:$name:1.0 xilinx.com:ip:$name:1.10 xilinx.com:ip:$name:1.2]
    }
    return [lindex $args end]
}
proc create_project {args} {
    record create_project {*}$args
    set pos {}
    foreach a $args { if {![string match -* $a]} { lappend pos $a } }
    if {[lsearch -exact $args -in_memory] >= 0} { return }
    lassign $pos ::proj_name ::proj_dir
    touch [file join $::proj_dir $::proj_name.xpr]
}
proc open_project {args} {
    record open_project {*}$args
    set p [lindex $args end]
    if {[string match *.xpr $p]} {
        set ::proj_dir [file dirname $p]
        set ::proj_name [file rootname [file tail $p]]
    } else {
        set ::hls_project $p
        file mkdir $p
    }
}
proc open_solution {args} {
    record open_solution {*}$args
    set ::hls_solution [lindex $args end]
}
proc solution_dir {} { return [file join $::hls_project $::hls_solution] }
proc csim_design {args} {
    record csim_design {*}$args
    touch [file join [solution_dir] csim report fpga_flow_top_csim.log] "INFO: CSim done with 0 errors.\n"
}
proc csynth_design {args} {
    record csynth_design {*}$args
    touch [file join [solution_dir] syn report fpga_flow_top_csynth.rpt] "stub synthesis report\n"
}
proc cosim_design {args} {
    record cosim_design {*}$args
    touch [file join [solution_dir] sim report fpga_flow_top_cosim.rpt] "|  Verilog|  Pass|\n"
}
proc export_design {args} {
    record export_design {*}$args
    touch [file join [solution_dir] impl ip component.xml] "<component/>\n"
}
proc make_wrapper {args} {
    record make_wrapper {*}$args
    return [file join $::proj_dir $::proj_name.gen sources_1 bd fpga_flow_bd hdl fpga_flow_bd_wrapper.v]
}
proc get_runs {args} { record get_runs {*}$args; return [lindex $args end] }
proc get_property {args} {
    record get_property {*}$args
    switch -- [lindex $args 0] {
        PROGRESS { return "100%" }
        STATUS { return "write_bitstream Complete!" }
        DIRECTORY { return [file join $::proj_dir $::proj_name.runs [lindex $args end]] }
        STATS.WNS { return "0.250" }
    }
    return ""
}
proc launch_runs {args} {
    record launch_runs {*}$args
    touch [file join $::proj_dir $::proj_name.runs impl_1 fpga_flow_bd_wrapper.bit] "bit"
    touch [file join $::proj_dir $::proj_name.gen sources_1 bd fpga_flow_bd hw_handoff fpga_flow_bd.hwh] "<hwh/>"
}
namespace eval ipx {
    proc package_project {args} {
        ::record ipx::package_project {*}$args
        set ::ip_root [lindex $args [expr {[lsearch -exact $args -root_dir] + 1}]]
    }
    proc save_core {args} { ::record ipx::save_core {*}$args; ::touch [file join $::ip_root component.xml] "<component/>" }
    proc get_bus_interfaces {args} { ::record ipx::get_bus_interfaces {*}$args; return [lindex $args 0] }
    proc current_core {args} { ::record ipx::current_core {*}$args; return core }
}
# Tcl's own exit would end this runner before it writes the calls: make it end the script instead.
rename exit real_exit
proc exit {args} { return -code return }

lassign $argv script calls_file
set ::argv [lrange $argv 2 end]
set ::argc [llength $::argv]
set rc [catch {source $script} msg]
set fh [open $calls_file w]
foreach c $::calls { puts $fh [join $c \x1f] }
close $fh
if {$rc} {
    puts stderr "ERROR: $msg"
    real_exit 1
}
real_exit 0
