// yq_mac_array_pnr: a place-and-route harness for yq_mac_array on the UP5K in sg48 (39 user
// IOs): every array input comes from a serial-in shift register (en, first, last, act, w),
// and every output ({acc, acc_valid}) is captured into a serial-out shift register on `load`,
// so all paths into and out of the array start and end at flip-flops and five pins suffice.
// Timing of the array is then the register-to-register timing of this design.
module yq_mac_array_pnr #(
    parameter LANES = 16,
    parameter ACC_W = 32
) (
    input wire clk,
    input wire rst,
    input wire sin,
    input wire load,
    output wire sout
);
    localparam integer IW = 11 + 8 * LANES;
    localparam integer OW = 1 + ACC_W * LANES;

    reg [IW-1:0] in_sh;
    always @(posedge clk) in_sh <= {in_sh[IW-2:0], sin};

    wire [ACC_W*LANES-1:0] acc;
    wire acc_valid;
    yq_mac_array #(.LANES(LANES), .ACC_W(ACC_W), .IMPL("ice40")) u_array (
        .clk(clk), .rst(rst), .en(in_sh[0]), .first(in_sh[1]), .last(in_sh[2]),
        .act(in_sh[10:3]), .w(in_sh[IW-1:11]), .acc(acc), .acc_valid(acc_valid)
    );

    reg [OW-1:0] out_sh;
    always @(posedge clk) out_sh <= load ? {acc, acc_valid} : {1'b0, out_sh[OW-1:1]};
    assign sout = out_sh[0];
endmodule
