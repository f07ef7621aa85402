# fpga-flow generated file: Vivado HLS / Vitis HLS project for board pynq-z2
# (part xc7z020clg400-1, 100 MHz). Run it from this folder (OUT/hls):
#
#   vivado_hls -f build_prj.tcl                                 C simulation + synthesis
#   vivado_hls -f build_prj.tcl "csim=1 synth=1 cosim=1 export=1"
#   vitis_hls  -f build_prj.tcl "csim=0 synth=1 export=1"
#
# Switches (0 or 1): reset (recreate the project), csim, synth, cosim (needs synth), export
# (IP catalog: fpgaflow:hls:fpga_flow_top:1.0). The testbench reads ../tb_data/.

array set opt {
    reset  0
    csim   1
    synth  1
    cosim  0
    export 0
}
foreach arg $::argv {
    foreach o [lsort [array names opt]] {
        regexp "$o=+(\\w+)" $arg unused opt($o)
    }
}

if {$opt(reset)} {
    open_project -reset fpga_flow_prj
} else {
    open_project fpga_flow_prj
}
set_top fpga_flow_top
add_files firmware/fpga_flow_top.cpp
add_files firmware/weights/fc_a.cpp
add_files firmware/weights/fc_b.cpp
add_files -tb tb/fpga_flow_tb.cpp
add_files -tb ../tb_data

if {$opt(reset)} {
    open_solution -reset solution1
} else {
    open_solution solution1
}
set_part {xc7z020clg400-1}
create_clock -period 10 -name default

if {$opt(csim)} {
    puts "fpga-flow: C simulation"
    csim_design
}
if {$opt(synth)} {
    puts "fpga-flow: C synthesis"
    csynth_design
}
if {$opt(cosim)} {
    puts "fpga-flow: C/RTL co-simulation"
    cosim_design
}
if {$opt(export)} {
    puts "fpga-flow: export IP"
    export_design -format ip_catalog -vendor fpgaflow -library hls -version 1.0
}
exit
