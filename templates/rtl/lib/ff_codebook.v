// fpga-flow Verilog library: ff_codebook
//
// Weight-sharing decode: a code index selects one of 2^CB_BITS mantissas held in a constant
// table (LUTs/registers after synthesis). CODEBOOK packs entry i in bits [i*W +: W]; the
// generator pads the table to a power of two (padding entries are zero). Combinational.
module ff_codebook #(
    parameter integer W       = 8,
    parameter integer CB_BITS = 1,
    parameter [(W << CB_BITS)-1:0] CODEBOOK = {(W << CB_BITS){1'b0}}
) (
    input  wire [CB_BITS-1:0] code,
    output wire [W-1:0]       value
);
    localparam integer N = 1 << CB_BITS;
    wire [W-1:0] table_r [0:N-1];
    genvar i;
    generate
        for (i = 0; i < N; i = i + 1) begin : g_entry
            assign table_r[i] = CODEBOOK[i*W +: W];
        end
    endgenerate
    assign value = table_r[code];
endmodule
