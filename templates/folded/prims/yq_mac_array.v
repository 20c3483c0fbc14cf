// yq_mac_array: LANES signed 8x8 multiply-accumulate lanes sharing one activation.
//
// Each cycle with `en` high is one tap: lane l adds act * w[8*l +: 8] (both signed 8-bit; the
// caller offsets unsigned activation codes) to its accumulator. `first` marks the first tap
// of a sum (the accumulator restarts from this product and any unfinished sum is dropped),
// `last` the final one; a tap may be both. `first`/`last` are ignored when `en` is low, and
// idle cycles may fall anywhere, also between the taps of one sum. The first tap after reset
// must have `first` set.
//
// Timing (LAT = 5): a tap presented in cycle c (sampled by the clock edge ending cycle c)
// with `last` high gives `acc_valid` high for exactly cycle c + 5; from that cycle on, `acc`
// (lane l in bits [ACC_W*l +: ACC_W], signed, wrapping modulo 2^ACC_W) holds the sum of the
// products of the taps from the latest `first` up to that `last`, unchanged until the next
// `acc_valid`. Sums follow each other back to back (a `first` right after a `last`) at one
// tap per cycle.
//
// Pipeline (the same in both implementations):
//   c+1  act and w registered           (ice40: SB_MAC16 A_REG/B_REG)
//   c+2  16-bit products registered     (ice40: TOP/BOT_8x8_MULT_REG, O = product)
//   c+3  sum = first ? product : sum + product, enabled only by a tap (one LUT4 per bit on
//        the carry chain: with `first` set the carries are ignored); the DSP output feeds
//        the adder directly, so no product is copied into fabric flip-flops
//   c+4  HOLD = 1: the finished sum copied (the next sum may start at c+3)
//   c+5  HOLD = 1: acc = that copy, with acc_valid (both HOLD settings have latency 5).
// Taking the held result from the sum register (not from the adder) lets every sum bit
// share its logic cell with its adder bit: ~ACC_W logic cells per lane for the sum.
// HOLD = 0 drops the held results (2 * LANES * ACC_W flip-flops): `acc` is then the sum register
// itself, valid from cycle c + 3 until the next sum's first tap reaches it (3 cycles after
// that tap is presented), which is enough for a caller that drains the lanes before issuing
// the next sum's taps (yq_fold_conv).
// IMPL = "ice40": LANES/2 SB_MAC16 in MODE_8x8, two lanes per DSP (A = {act, act},
// B = {w[lane 2k+1], w[lane 2k]}, O[31:16] = A[15:8]*B[15:8], O[15:0] = A[7:0]*B[7:0], both
// signed with A_SIGNED = B_SIGNED = 1). IMPL = "generic": the same registers in plain Verilog.
module yq_mac_array #(
    parameter LANES = 16,
    parameter ACC_W = 32,
    parameter HOLD = 1,
    parameter IMPL = "ice40"
) (
    input wire clk,
    input wire rst,
    input wire en,
    input wire first,
    input wire last,
    input wire [7:0] act,
    input wire [8*LANES-1:0] w,
    output reg [ACC_W*LANES-1:0] acc,
    output reg acc_valid
);
    /* verilator lint_off UNUSEDPARAM */
    localparam [2:0] LAT = 3'd5;  // for callers and documentation: tap in cycle c, sum in c + LAT
    /* verilator lint_on UNUSEDPARAM */

    // Tap control along the pipeline: [k] = cycle c+k (first is needed up to c+2 only).
    reg [4:1] en_p, last_p;
    reg [2:1] first_p;
    always @(posedge clk) begin
        if (rst) begin
            en_p <= 4'b0000;
            acc_valid <= 1'b0;
        end else begin
            en_p <= {en_p[3:1], en};
            acc_valid <= en_p[4] & last_p[4];
        end
        first_p <= {first_p[1], first};
        last_p <= {last_p[3:1], last};
    end

    // Products in cycle c+2, lane l in bits [16*l +: 16].
    wire [16*LANES-1:0] prod;
    genvar l;
    generate
        if (IMPL == "ice40") begin : g_ice40
            if (LANES % 2 != 0) begin : g_check
                // Elaboration fails here: the iCE40 DSP computes two lanes.
                yq_mac_array_ice40_needs_even_LANES u_error ();
            end
            for (l = 0; l < LANES / 2; l = l + 1) begin : g_dsp
                SB_MAC16 #(
                    .NEG_TRIGGER(1'b0),
                    .C_REG(1'b0), .A_REG(1'b1), .B_REG(1'b1), .D_REG(1'b0),
                    .TOP_8x8_MULT_REG(1'b1), .BOT_8x8_MULT_REG(1'b1),
                    .PIPELINE_16x16_MULT_REG1(1'b1), .PIPELINE_16x16_MULT_REG2(1'b0),
                    .TOPOUTPUT_SELECT(2'd2), .TOPADDSUB_LOWERINPUT(2'd0),
                    .TOPADDSUB_UPPERINPUT(1'b0), .TOPADDSUB_CARRYSELECT(2'd0),
                    .BOTOUTPUT_SELECT(2'd2), .BOTADDSUB_LOWERINPUT(2'd0),
                    .BOTADDSUB_UPPERINPUT(1'b0), .BOTADDSUB_CARRYSELECT(2'd0),
                    .MODE_8x8(1'b1), .A_SIGNED(1'b1), .B_SIGNED(1'b1)
                ) u_mac (
                    .CLK(clk), .CE(1'b1),
                    .C(16'd0), .A({act, act}), .B(w[16*l +: 16]), .D(16'd0),
                    .AHOLD(1'b0), .BHOLD(1'b0), .CHOLD(1'b0), .DHOLD(1'b0),
                    .IRSTTOP(1'b0), .IRSTBOT(1'b0), .ORSTTOP(1'b0), .ORSTBOT(1'b0),
                    .OLOADTOP(1'b0), .OLOADBOT(1'b0), .ADDSUBTOP(1'b0), .ADDSUBBOT(1'b0),
                    .OHOLDTOP(1'b0), .OHOLDBOT(1'b0),
                    .CI(1'b0), .ACCUMCI(1'b0), .SIGNEXTIN(1'b0),
                    .O(prod[32*l +: 32]),
                    /* verilator lint_off PINCONNECTEMPTY */
                    .CO(), .ACCUMCO(), .SIGNEXTOUT()
                    /* verilator lint_on PINCONNECTEMPTY */
                );
            end
        end else begin : g_generic
            reg signed [7:0] act_r;
            reg [8*LANES-1:0] w_r;
            always @(posedge clk) begin
                act_r <= act;
                w_r <= w;
            end
            for (l = 0; l < LANES; l = l + 1) begin : g_mul
                reg signed [15:0] p_r;
                always @(posedge clk) p_r <= act_r * $signed(w_r[8*l +: 8]);
                assign prod[16*l +: 16] = p_r;
            end
        end
    endgenerate

    // Fabric: sums (c+3), held results (c+4, c+5).
    wire fin = en_p[3] & last_p[3];  // the sum registers hold a finished result
    reg fin4;
    always @(posedge clk) fin4 <= fin;
    generate
        for (l = 0; l < LANES; l = l + 1) begin : g_acc
            reg [ACC_W-1:0] sum;
            wire [15:0] p2 = prod[16*l +: 16];
            wire [ACC_W-1:0] p2x = {{(ACC_W - 16){p2[15]}}, p2};
            always @(posedge clk) if (en_p[2]) sum <= first_p[2] ? p2x : sum + p2x;
            if (HOLD != 0) begin : g_hold
                reg [ACC_W-1:0] h4;
                always @(posedge clk) begin
                    if (fin) h4 <= sum;
                    if (fin4) acc[ACC_W*l +: ACC_W] <= h4;
                end
            end else begin : g_direct
                always @(*) acc[ACC_W*l +: ACC_W] = sum;
                wire unused_fin = ^{fin, fin4};
            end
        end
    endgenerate
endmodule
