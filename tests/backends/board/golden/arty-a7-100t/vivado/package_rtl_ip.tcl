# fpga-flow generated file: the Verilog design (rtl/) as a Vivado IP for arty-a7-100t (xc7a100tcsg324-1).
# Do not edit; rebuild with fpga-flow.
#
# arty-a7-100t has no processing system, so fpga-flow writes no block design, bitstream or driver
# for it (see DEPLOY.md). This script packages the model as an IP with the contract-4 ports (ap_clk,
# ap_rst_n, AXI4-Stream in_r and out_r) for your own design:
#   vivado -mode batch -source vivado/package_rtl_ip.tcl      (or: make rtl_ip)
# Result: vivado/ip_repo/component.xml, VLNV fpgaflow:rtl:fpga_flow_top:1.0; add vivado/ip_repo to your
# project's IP repositories. The HLS IP (make ip) is the alternative: fpgaflow:hls:fpga_flow_top:1.0.

set here [file dirname [file normalize [info script]]]
set rtl_dir [file normalize [file join $here .. rtl]]
set proj_dir [file join $here rtl_ip_project]
set repo [file join $here ip_repo]
set part xc7a100tcsg324-1

set fh [open [file join $rtl_dir sources.f] r]
set sources {}
foreach line [split [read $fh] "\n"] {
    set line [string trim $line]
    if {$line ne ""} {
        lappend sources [file join $rtl_dir $line]
    }
}
close $fh
set roms [lsort [glob -nocomplain -directory $rtl_dir *.mem]]

create_project fpga_flow_rtl_ip $proj_dir -part $part -force
add_files -norecurse $sources
if {[llength $roms] > 0} {
    add_files -norecurse $roms
}
set_property top fpga_flow_top [current_fileset]
update_compile_order -fileset sources_1

file delete -force $repo
ipx::package_project -root_dir $repo -vendor fpgaflow -library rtl -taxonomy /UserIP -import_files -set_current true
set core [ipx::current_core]
set_property name fpga_flow_top $core
set_property version 1.0 $core
set_property display_name {fpga-flow model mlp (Verilog)} $core
set_property description {fpga-flow model mlp: AXI4-Stream in_r -> out_r, contract 4 packing} $core
ipx::infer_bus_interfaces xilinx.com:interface:axis_rtl:1.0 $core
foreach busif {in_r out_r} {
    if {[llength [ipx::get_bus_interfaces $busif -of_objects $core]] == 0} {
        error "fpga-flow: Vivado did not infer the AXI4-Stream interface $busif from the ports ${busif}_TDATA/TVALID/TREADY/TLAST"
    }
    ipx::associate_bus_interfaces -busif $busif -clock ap_clk $core
}
ipx::create_xgui_files $core
ipx::update_checksums $core
ipx::check_integrity $core
ipx::save_core $core
close_project
puts "fpga-flow: IP fpgaflow:rtl:fpga_flow_top:1.0 written to $repo"
