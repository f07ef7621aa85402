# fpga-flow generated file: Vivado project and block design for kv260
# (xck26-sfvc784-2LV-c, PL clock 200 MHz), model mlp. Do not edit; rebuild with fpga-flow.
#
# Needs the exported HLS IP (make ip). Then, from the project folder:
#   make bitstream                                   (runs this script, then build_bitstream.tcl)
#   vivado -mode batch -source vivado/build_bd.tcl   (the same, by hand; any working directory)
#
# Block design fpga_flow_bd in vivado/project/fpga_flow.xpr:
#   zynq_ultra_ps_e_0  M_AXI_HPM0_FPD -> ctrl_interconnect -> axi_dma_0/S_AXI_LITE (0xA0000000, 64K)
#   axi_dma_0/M_AXIS_MM2S (64 bits) -> fpga_flow_top_0/in_r (64 bits)
#   fpga_flow_top_0/out_r (56 bits) -> out_pad (adds 8 zero bits, TKEEP all ones) -> axi_dma_0/S_AXIS_S2MM (64 bits)
#   axi_dma_0/M_AXI_MM2S + M_AXI_S2MM -> mem_smartconnect -> zynq_ultra_ps_e_0/S_AXI_HP0_FPD (DDR)
#   one clock (pl_clk0, 200 MHz) and one proc_sys_reset (from pl_resetn0) for every block
# The DMA runs in simple (direct register) mode; the kernel is free-running (ap_ctrl_none).

set here [file dirname [file normalize [info script]]]
set proj_dir [file join $here project]
set ip_repo [file normalize [file join $here .. hls fpga_flow_prj solution1 impl ip]]
set part xck26-sfvc784-2LV-c
set hls_vlnv fpgaflow:hls:fpga_flow_top:1.0

# The newest version of a Xilinx catalog IP (no version is hard-coded: any Vivado since 2019.2).
proc ff_vlnv {name} {
    set defs [get_ipdefs -filter "VLNV =~ xilinx.com:ip:${name}:*"]
    if {[llength $defs] == 0} {
        error "fpga-flow: IP xilinx.com:ip:${name} is not in this Vivado's IP catalog"
    }
    return [lindex [lsort -dictionary $defs] end]
}

if {![file exists [file join $ip_repo component.xml]]} {
    error "fpga-flow: the HLS IP is not exported: [file join $ip_repo component.xml] is missing; run 'make ip' first"
}

puts "fpga-flow: creating $proj_dir/fpga_flow.xpr for $part"
create_project fpga_flow $proj_dir -part $part -force
set board_part [lindex [get_board_parts -quiet -latest_file_version {*:kv260_som:part0:*}] 0]
if {$board_part ne ""} {
    puts "fpga-flow: board files found: $board_part (the processing system gets the board preset)"
    set_property board_part $board_part [current_project]
} else {
    puts "fpga-flow: no board files for kv260: part $part only, processing system with Vivado defaults"
    puts "fpga-flow: (fine for PYNQ, whose boot image configures the PS; install the board files for bare-metal use)"
}
set_property ip_repo_paths [list $ip_repo] [current_project]
update_ip_catalog -rebuild
if {[llength [get_ipdefs -all $hls_vlnv]] == 0} {
    error "fpga-flow: $ip_repo holds no IP $hls_vlnv; re-run 'make ip'"
}

create_bd_design fpga_flow_bd

# ---------------------------------------------------------------- processing system
set ps [create_bd_cell -type ip -vlnv [ff_vlnv zynq_ultra_ps_e] zynq_ultra_ps_e_0]
if {$board_part ne ""} {
    apply_bd_automation -rule xilinx.com:bd_rule:zynq_ultra_ps_e -config {apply_board_preset "1"} $ps
}
set_property -dict [list \
    CONFIG.PSU__FPGA_PL0_ENABLE {1} \
    CONFIG.PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ {200} \
    CONFIG.PSU__USE__M_AXI_GP0 {1} \
    CONFIG.PSU__USE__M_AXI_GP1 {0} \
    CONFIG.PSU__USE__M_AXI_GP2 {0} \
    CONFIG.PSU__USE__S_AXI_GP0 {0} \
    CONFIG.PSU__USE__S_AXI_GP1 {0} \
    CONFIG.PSU__USE__S_AXI_GP2 {1} \
    CONFIG.PSU__USE__S_AXI_GP3 {0} \
    CONFIG.PSU__USE__S_AXI_GP4 {0} \
    CONFIG.PSU__USE__S_AXI_GP5 {0} \
    CONFIG.PSU__USE__S_AXI_GP6 {0} \
    CONFIG.PSU__USE__S_AXI_ACP {0} \
    CONFIG.PSU__USE__S_AXI_ACE {0} \
] $ps
set clk [get_bd_pins zynq_ultra_ps_e_0/pl_clk0]
set ps_resetn [get_bd_pins zynq_ultra_ps_e_0/pl_resetn0]
set ps_master [get_bd_intf_pins zynq_ultra_ps_e_0/M_AXI_HPM0_FPD]
set ps_slave [get_bd_intf_pins zynq_ultra_ps_e_0/S_AXI_HP0_FPD]
set ps_clock_pins [list zynq_ultra_ps_e_0/maxihpm0_fpd_aclk zynq_ultra_ps_e_0/saxihp0_fpd_aclk]
set ps_data zynq_ultra_ps_e_0/Data

# ---------------------------------------------------------------- reset
set rst [create_bd_cell -type ip -vlnv [ff_vlnv proc_sys_reset] rst_pl]
connect_bd_net $clk [get_bd_pins rst_pl/slowest_sync_clk]
connect_bd_net $ps_resetn [get_bd_pins rst_pl/ext_reset_in]
set aresetn [get_bd_pins rst_pl/peripheral_aresetn]
set ic_aresetn [get_bd_pins rst_pl/interconnect_aresetn]

# ---------------------------------------------------------------- AXI DMA (simple mode)
set dma [create_bd_cell -type ip -vlnv [ff_vlnv axi_dma] axi_dma_0]
set_property -dict [list \
    CONFIG.c_include_sg {0} \
    CONFIG.c_sg_include_stscntrl_strm {0} \
    CONFIG.c_sg_length_width {26} \
    CONFIG.c_addr_width {64} \
    CONFIG.c_include_mm2s {1} \
    CONFIG.c_m_axi_mm2s_data_width {64} \
    CONFIG.c_m_axis_mm2s_tdata_width {64} \
    CONFIG.c_mm2s_burst_size {16} \
    CONFIG.c_include_s2mm {1} \
    CONFIG.c_m_axi_s2mm_data_width {64} \
    CONFIG.c_s_axis_s2mm_tdata_width {64} \
    CONFIG.c_s2mm_burst_size {16} \
] $dma

# ---------------------------------------------------------------- the model (HLS IP)
set kernel [create_bd_cell -type ip -vlnv $hls_vlnv fpga_flow_top_0]

# ---------------------------------------------------------------- streams
connect_bd_intf_net [get_bd_intf_pins axi_dma_0/M_AXIS_MM2S] [get_bd_intf_pins fpga_flow_top_0/in_r]
# The DMA's S2MM channel gets 64-bit words with TKEEP all ones (kernels built without TKEEP
# leave it undriven); the kernel's 56-bit beats get 8 zero bits on top.
set out_pad [create_bd_cell -type ip -vlnv [ff_vlnv axis_subset_converter] out_pad]
set_property -dict [list \
    CONFIG.S_TDATA_NUM_BYTES {7} \
    CONFIG.M_TDATA_NUM_BYTES {8} \
    CONFIG.S_HAS_TLAST {1} \
    CONFIG.M_HAS_TLAST {1} \
    CONFIG.M_HAS_TKEEP {1} \
    CONFIG.TDATA_REMAP {8'b00000000,tdata[55:0]} \
    CONFIG.TKEEP_REMAP {8'b11111111} \
    CONFIG.TLAST_REMAP {tlast[0]} \
] $out_pad
connect_bd_intf_net [get_bd_intf_pins fpga_flow_top_0/out_r] [get_bd_intf_pins out_pad/S_AXIS]
connect_bd_intf_net [get_bd_intf_pins out_pad/M_AXIS] [get_bd_intf_pins axi_dma_0/S_AXIS_S2MM]
connect_bd_net $clk [get_bd_pins out_pad/aclk]
connect_bd_net $aresetn [get_bd_pins out_pad/aresetn]

# ---------------------------------------------------------------- control path: PS -> DMA registers
set ctrl [create_bd_cell -type ip -vlnv [ff_vlnv axi_interconnect] ctrl_interconnect]
set_property -dict [list CONFIG.NUM_SI {1} CONFIG.NUM_MI {1}] $ctrl
connect_bd_intf_net $ps_master [get_bd_intf_pins ctrl_interconnect/S00_AXI]
connect_bd_intf_net [get_bd_intf_pins ctrl_interconnect/M00_AXI] [get_bd_intf_pins axi_dma_0/S_AXI_LITE]

# ---------------------------------------------------------------- data path: DMA -> DDR
set mem [create_bd_cell -type ip -vlnv [ff_vlnv smartconnect] mem_smartconnect]
set_property -dict [list CONFIG.NUM_SI {2} CONFIG.NUM_MI {1}] $mem
connect_bd_intf_net [get_bd_intf_pins axi_dma_0/M_AXI_MM2S] [get_bd_intf_pins mem_smartconnect/S00_AXI]
connect_bd_intf_net [get_bd_intf_pins axi_dma_0/M_AXI_S2MM] [get_bd_intf_pins mem_smartconnect/S01_AXI]
connect_bd_intf_net [get_bd_intf_pins mem_smartconnect/M00_AXI] $ps_slave

# ---------------------------------------------------------------- clock and resets
foreach pin [concat $ps_clock_pins [list \
        axi_dma_0/s_axi_lite_aclk axi_dma_0/m_axi_mm2s_aclk axi_dma_0/m_axi_s2mm_aclk \
        ctrl_interconnect/ACLK ctrl_interconnect/S00_ACLK ctrl_interconnect/M00_ACLK \
        mem_smartconnect/aclk fpga_flow_top_0/ap_clk]] {
    connect_bd_net $clk [get_bd_pins $pin]
}
foreach pin [list axi_dma_0/axi_resetn ctrl_interconnect/S00_ARESETN ctrl_interconnect/M00_ARESETN \
        mem_smartconnect/aresetn fpga_flow_top_0/ap_rst_n] {
    connect_bd_net $aresetn [get_bd_pins $pin]
}
connect_bd_net $ic_aresetn [get_bd_pins ctrl_interconnect/ARESETN]

# ---------------------------------------------------------------- address map
# DMA registers at a fixed address (PYNQ reads it from the .hwh anyway); DDR for the DMA masters.
if {[catch {assign_bd_address -target_address_space [get_bd_addr_spaces $ps_data] -offset 0xA0000000 -range 64K [get_bd_addr_segs axi_dma_0/S_AXI_LITE/Reg]} msg]} {
    puts "fpga-flow: could not pin the DMA registers at 0xA0000000 ($msg); assigning automatically"
}
assign_bd_address

validate_bd_design
save_bd_design
set wrapper [make_wrapper -files [get_files fpga_flow_bd.bd] -top]
add_files -norecurse $wrapper
set_property top fpga_flow_bd_wrapper [current_fileset]
update_compile_order -fileset sources_1
close_project
puts "fpga-flow: block design fpga_flow_bd written to $proj_dir; next: build_bitstream.tcl"
