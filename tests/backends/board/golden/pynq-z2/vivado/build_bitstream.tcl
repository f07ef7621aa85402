# fpga-flow generated file: bitstream of the block design for pynq-z2 (xc7z020clg400-1). Do not edit.
#
# Run after build_bd.tcl (make bitstream runs both):
#   vivado -mode batch -source vivado/build_bitstream.tcl [-tclargs jobs=8]
#
# Writes vivado/output/fpga_flow.bit and vivado/output/fpga_flow.hwh (same basename, as PYNQ's
# Overlay expects), utilization and timing reports, and fpga_flow.xsa when this Vivado can.

set here [file dirname [file normalize [info script]]]
set proj_dir [file join $here project]
set out_dir [file join $here output]
set xpr [file join $proj_dir fpga_flow.xpr]

array set opt {
    jobs 4
}
foreach arg $::argv {
    foreach o [lsort [array names opt]] {
        regexp "$o=+(\\w+)" $arg unused opt($o)
    }
}

if {![file exists $xpr]} {
    error "fpga-flow: $xpr is missing; run build_bd.tcl first (make bitstream runs both)"
}
open_project $xpr
reset_run synth_1
puts "fpga-flow: synthesis, implementation and bitstream ($opt(jobs) jobs); this takes a while"
launch_runs impl_1 -to_step write_bitstream -jobs $opt(jobs)
wait_on_run impl_1

set impl [get_runs impl_1]
set impl_dir [get_property DIRECTORY $impl]
if {[get_property PROGRESS $impl] ne "100%"} {
    error "fpga-flow: implementation did not finish ([get_property STATUS $impl]); see $impl_dir/runme.log"
}
set bit [file join $impl_dir fpga_flow_bd_wrapper.bit]
if {![file exists $bit]} {
    error "fpga-flow: implementation finished but $bit is missing; see $impl_dir/runme.log"
}
# The hardware handoff sits in <project>.gen (Vivado 2020.2 and later) or <project>.srcs (before).
set hwh ""
foreach gen {gen srcs} {
    set cand [file join $proj_dir fpga_flow.$gen sources_1 bd fpga_flow_bd hw_handoff fpga_flow_bd.hwh]
    if {$hwh eq "" && [file exists $cand]} {
        set hwh $cand
    }
}
if {$hwh eq ""} {
    error "fpga-flow: no fpga_flow_bd.hwh under $proj_dir (hw_handoff); PYNQ needs it next to the bitstream"
}

file mkdir $out_dir
file copy -force $bit [file join $out_dir fpga_flow.bit]
file copy -force $hwh [file join $out_dir fpga_flow.hwh]

open_run impl_1
report_utilization -file [file join $out_dir utilization.rpt]
report_timing_summary -file [file join $out_dir timing_summary.rpt]
set wns [get_property STATS.WNS $impl]
if {$wns ne "" && $wns < 0} {
    puts "fpga-flow: WARNING: timing not met at 100 MHz (WNS $wns ns); see output/timing_summary.rpt"
}
if {[catch {write_hw_platform -fixed -include_bit -force [file join $out_dir fpga_flow.xsa]} msg]} {
    puts "fpga-flow: no fpga_flow.xsa written ($msg); PYNQ needs only the .bit and .hwh"
}
close_project
puts "fpga-flow: wrote $out_dir/fpga_flow.bit and fpga_flow.hwh"
