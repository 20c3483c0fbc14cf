// yq_fold_loader: parses the flash stream of the folded engine. Without row bands the stream
// is one sequential read from the start of the weight image; per layer:
//   descriptor (DESC_BYTES bytes, shifted into yq_fold_desc),
//   conv only: the SiLU table (LUT_LEN bytes, if the layer has one), then per group of P
//   output channels: P parameter words (bias, 4 bytes little endian, then the signed shift,
//   1 byte), then per chunk TC*P weight bytes (tap-major, lane 0 first).
// A chunk goes into weight slot (chunk number & 1) and a group's parameters into parameter
// slot (group & 1). Every byte is written where it belongs as it arrives (the buffers are
// byte lanes: weight lane = output channel, parameter lane = byte of the parameter word),
// so no word is assembled in fabric; the loader runs at most one chunk ahead of the convolution unit
// (chunk n waits until chunk n-2 has been consumed), so both slots are double-buffered.
// `go` starts one layer's record; `desc_ok` pulses when the descriptor is decoded; `idle`
// is high when the loader has taken the whole record.
// JUMP = 1 (designs in row bands, whose image holds the descriptors apart from the weights):
// after a convolution's descriptor `jump` is high for one cycle (the core restarts the
// stream at the descriptor's `body` offset) and the loader takes nothing in that cycle and
// the next, so no byte of the old stream is taken after the restart.
module yq_fold_loader #(
    parameter P = 16,
    parameter LW = 4,
    parameter WTW = 8,
    parameter DESC_BYTES = 72,
    parameter CW = 16,
    parameter JUMP = 0
) (
    input wire clk,
    input wire rst,
    input wire go,
    output reg desc_ok,
    output wire idle,
    output wire jump,
    // flash byte stream
    input wire s_valid, input wire [7:0] s_data, output wire s_ready,
    // descriptor decoder
    output wire d_we, output wire [7:0] d_data,
    input wire d_is_conv, input wire d_has_lut, input wire [CW-1:0] d_lut_len,
    // chunk count and tap counts as last indices (count - 1: no subtract before a compare)
    input wire [CW-1:0] d_g, input wire [7:0] d_nch_m1, input wire [CW-1:0] d_tc_m1, input wire [CW-1:0] d_tc_last_m1,
    // buffers
    output reg lut_we, output reg [7:0] lut_waddr, output reg [7:0] lut_wdata,
    output reg pb_we, output reg [LW:0] pb_waddr, output reg [2:0] pb_wbyte,
    output reg wb_we, output reg [WTW:0] wb_waddr, output reg [LW-1:0] wb_wlane,
    output reg [7:0] b_wdata,   // the byte written to the parameter or weight buffer
    // chunks loaded (this layer) / consumed by the convolution unit
    output reg [CW-1:0] loaded,
    input wire [CW-1:0] consumed
);
    localparam [2:0] S_IDLE = 3'd0, S_DESC = 3'd1, S_DECIDE = 3'd2, S_LUT = 3'd3,
                     S_PRM = 3'd4, S_WGT = 3'd5, S_JUMP = 3'd6;
    localparam [6:0] DLAST = DESC_BYTES - 1;
    localparam [31:0] PM1_32 = P - 1;
    localparam [LW-1:0] PM1 = PM1_32[LW-1:0];
    localparam [LW:0] PM1X = PM1_32[LW:0];
    reg [2:0] state;
    reg [CW-1:0] i, og, n, tap;
    reg [7:0] ch;
    reg [2:0] pbyte;
    reg [LW:0] lane;
    reg [LW-1:0] wlane;
    wire room = (n < consumed + 2);
    wire take = s_valid && s_ready;
    assign s_ready = (state == S_DESC) || (state == S_LUT) || ((state == S_PRM || state == S_WGT) && room);
    assign idle = (state == S_IDLE);
    assign jump = (JUMP != 0) && (state == S_DECIDE) && d_is_conv;
    assign d_we = (state == S_DESC) && take;
    assign d_data = s_data;
    wire last_ch = (ch == d_nch_m1);
    wire [CW-1:0] tc_m1 = last_ch ? d_tc_last_m1 : d_tc_m1;
    always @(posedge clk) begin
        desc_ok <= 1'b0; lut_we <= 1'b0; pb_we <= 1'b0; wb_we <= 1'b0;
        if (rst) begin
            state <= S_IDLE; loaded <= 0;
        end else begin
            case (state)
            S_IDLE: if (go) begin state <= S_DESC; i <= 0; end
            S_DESC: if (take) begin
                i <= i + 1'b1;
                if (i[6:0] == DLAST) state <= S_DECIDE;
            end
            S_DECIDE: begin
                desc_ok <= 1'b1; i <= 0; og <= 0; n <= 0; ch <= 0; tap <= 0; lane <= 0;
                pbyte <= 0; wlane <= 0; loaded <= 0;
                state <= !d_is_conv ? S_IDLE : (JUMP != 0) ? S_JUMP : (d_has_lut ? S_LUT : S_PRM);
            end
            S_JUMP: state <= d_has_lut ? S_LUT : S_PRM;
            S_LUT: if (take) begin
                lut_we <= 1'b1; lut_waddr <= i[7:0]; lut_wdata <= s_data;
                i <= i + 1'b1;
                if (i == d_lut_len - 1'b1) state <= S_PRM;
            end
            S_PRM: if (take) begin
                pb_we <= 1'b1; pb_waddr <= {og[0], lane[LW-1:0]}; pb_wbyte <= pbyte; b_wdata <= s_data;
                pbyte <= pbyte + 3'd1;
                if (pbyte == 3'd4) begin
                    pbyte <= 0;
                    lane <= lane + 1'b1;
                    if (lane == PM1X) begin lane <= 0; state <= S_WGT; end
                end
            end
            S_WGT: if (take) begin
                wb_we <= 1'b1; wb_waddr <= {n[0], tap[WTW-1:0]}; wb_wlane <= wlane; b_wdata <= s_data;
                wlane <= wlane + 1'b1;
                if (wlane == PM1) begin
                    tap <= tap + 1'b1;
                    if (tap == tc_m1) begin
                        tap <= 0; n <= n + 1'b1; loaded <= loaded + 1'b1;
                        if (!last_ch) begin
                            ch <= ch + 8'd1;
                        end else begin
                            ch <= 0; og <= og + 1'b1;
                            state <= (og == d_g - 1'b1) ? S_IDLE : S_PRM;
                        end
                    end
                end
            end
            default: state <= S_IDLE;
            endcase
        end
    end
endmodule
