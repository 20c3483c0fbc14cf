// yq_flash_pnr: yq_flash_reader alone on the iCEBreaker's pins, for place and route and
// timing only (tests/rtl_prim_flash.rs). The flash io lines go through SB_IO tristates
// (PIN_TYPE 6'b1010_01: tristate output, plain input, no pad registers); the consumer side
// is an LFSR (requests, lengths, addresses, stalls, rare aborts) so that no reader logic is
// optimised away, and the XOR of every byte taken drives the red LED.
module yq_flash_pnr (
    input wire clk,
    output wire flash_clk,
    output wire flash_csb,
    inout wire [3:0] flash_io,
    output reg led
);
    reg [3:0] por = 4'd0;
    wire rst = !por[3];
    always @(posedge clk) if (rst) por <= por + 1'b1;

    reg [31:0] lfsr = 32'h1;
    always @(posedge clk) lfsr <= {lfsr[30:0], lfsr[31] ^ lfsr[21] ^ lfsr[1] ^ lfsr[0]};

    wire ready, fail, valid;
    wire [7:0] data;
    wire [3:0] io_o, io_oe, io_i;
    yq_flash_reader #(.CLK_HZ(60000000), .MODE(2)) u_rd (
        .clk(clk), .rst(rst), .ready(ready), .fail(fail), .req(lfsr[7]),
        .addr({lfsr[31:16], lfsr[7:0]}), .len({lfsr[15:0], lfsr[31:24]}),
        .stop(&lfsr[12:8]), .data(data), .valid(valid), .stall(lfsr[3]),
        .flash_clk(flash_clk), .flash_csb(flash_csb), .flash_io_o(io_o), .flash_io_oe(io_oe),
        .flash_io_i(io_i));
    genvar i;
    generate
        for (i = 0; i < 4; i = i + 1) begin : g_io
            SB_IO #(.PIN_TYPE(6'b1010_01), .PULLUP(1'b0)) u_io (
                .PACKAGE_PIN(flash_io[i]), .OUTPUT_ENABLE(io_oe[i]), .D_OUT_0(io_o[i]),
                .D_IN_0(io_i[i]));
        end
    endgenerate
    always @(posedge clk) led <= led ^ (valid && !lfsr[3] ? ^data : 1'b0) ^ fail ^ ready;
endmodule
