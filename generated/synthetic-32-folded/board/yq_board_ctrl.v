// yq_board_ctrl: the host protocol of a folded-engine board over one UART (docs/hardware.md,
// "Board protocol"). Commands from the host, one byte each:
//   'P'              -> 'Y' (alive; 'E' instead when the flash reader failed to start)
//   'F' + pixels     -> 'R' each time the engine becomes ready for pixels: once for an input
//                       held whole (the host then sends the letterboxed codes, planar RGB,
//                       N bytes), once per row band for an input loaded in bands (the host
//                       sends that band's rows of each channel after each 'R'); when the
//                       frame is done the board answers 'K' and the frame's cycle count
//                       (4 bytes, LE). Bytes sent while the engine is not ready are dropped.
//   'D' a0 a1 a2 n0 n1 n2 -> n bytes of activation memory from byte address a (both LE):
//                       detection records, head tensors or any layer's output
// The engine's flash stream: on each `f_start` a read from FLASH_BASE + f_addr to the end of
// the image (FLASH_LEN bytes from FLASH_BASE); the board top aborts a read in progress with
// the same pulse (the reader's `stop`), so a restart (row bands) takes effect at once.
module yq_board_ctrl #(
    parameter AB = 17,
    parameter [23:0] FLASH_BASE = 24'h100000,
    parameter [23:0] FLASH_LEN = 24'd1
) (
    input wire clk,
    input wire rst,
    // UART
    input wire rx_valid, input wire [7:0] rx_data,
    output reg tx_valid, output reg [7:0] tx_data, input wire tx_ready,
    // flash reader
    input wire fl_ready, input wire fl_fail,
    output reg fl_req, output wire [23:0] fl_addr, output wire [23:0] fl_len,
    // engine
    output reg start, input wire busy, input wire finished, input wire f_start, input wire [23:0] f_addr,
    input wire in_ready, output wire in_valid, output wire [7:0] in_data,
    output wire [AB-1:0] host_addr, input wire [7:0] host_data,
    output wire led_busy, output wire led_fail
);
    localparam [3:0] B_IDLE = 4'd0, B_SEND = 4'd1, B_WAITIN = 4'd2, B_FRAME = 4'd3,
                     B_DONE = 4'd4, B_DARG = 4'd5, B_DRD = 4'd6, B_DTX = 4'd7;
    reg [3:0] st, ret;
    reg [31:0] cycles;    // the frame's cycles; shifted out after 'K'
    reg [47:0] arg;       // 'D' arguments, then the address (counting up) and bytes left
    reg [2:0] nargs, nsend;
    reg rdy_q;            // in_ready a cycle ago: a rise in B_FRAME is a new input band
    reg [7:0] out;        // the next byte to send
    assign host_addr = arg[AB-1:0];
    generate
        if (AB < 24) begin : g_unused
            wire unused_arg = ^arg[23:AB];
        end
    endgenerate
    assign fl_addr = FLASH_BASE + f_addr;
    assign fl_len = FLASH_LEN - f_addr;
    assign in_valid = (st == B_FRAME) && rx_valid && in_ready;
    assign in_data = rx_data;
    assign led_busy = busy;
    assign led_fail = fl_fail;
    always @(posedge clk) begin
        start <= 1'b0;
        rdy_q <= !rst && in_ready;
        if (rst) begin
            st <= B_IDLE; tx_valid <= 1'b0; fl_req <= 1'b0; cycles <= 0;
        end else begin
            if (f_start) fl_req <= 1'b1;
            else if (fl_ready) fl_req <= 1'b0;
            if (busy) cycles <= cycles + 32'd1;
            case (st)
            B_IDLE: if (rx_valid) begin
                case (rx_data)
                8'h50: begin out <= fl_fail ? 8'h45 : 8'h59; nsend <= 3'd1; ret <= B_IDLE; st <= B_SEND; end
                8'h46: if (fl_ready && !busy) begin start <= 1'b1; cycles <= 0; st <= B_WAITIN; end
                8'h44: begin nargs <= 3'd0; st <= B_DARG; end
                default: ;
                endcase
            end
            B_SEND: if (!tx_valid) begin
                if (nsend == 3'd0) st <= ret;
                else begin
                    tx_valid <= 1'b1; tx_data <= out; nsend <= nsend - 3'd1;
                    // a reply of several bytes is 'K' and the cycle count, low byte first
                    if (nsend != 3'd1) begin out <= cycles[7:0]; cycles <= {8'd0, cycles[31:8]}; end
                end
            end else if (tx_ready) tx_valid <= 1'b0;
            B_WAITIN: if (in_ready) begin out <= 8'h52; nsend <= 3'd1; ret <= B_FRAME; st <= B_SEND; end
            B_FRAME: if (finished) begin
                out <= 8'h4b; nsend <= 3'd5; ret <= B_IDLE; st <= B_SEND;
            end else if (in_ready && !rdy_q) begin
                out <= 8'h52; nsend <= 3'd1; ret <= B_FRAME; st <= B_SEND;
            end
            B_DARG: if (rx_valid) begin
                arg <= {rx_data, arg[47:8]}; nargs <= nargs + 3'd1;
                if (nargs == 3'd5) st <= B_DRD;
            end
            B_DRD: begin
                st <= (arg[47:24] == 24'd0) ? B_IDLE : B_DTX;
                nsend <= 3'd2;
            end
            B_DTX: begin
                // nsend counts the read latency down, then the byte goes out
                if (nsend != 3'd0) nsend <= nsend - 3'd1;
                else if (!tx_valid) begin
                    tx_valid <= 1'b1; tx_data <= host_data;
                    arg[AB-1:0] <= arg[AB-1:0] + 1'b1; arg[47:24] <= arg[47:24] - 24'd1; nsend <= 3'd2;
                    if (arg[47:24] == 24'd1) st <= B_DONE;
                end
            end
            B_DONE: if (tx_valid && tx_ready) begin tx_valid <= 1'b0; st <= B_IDLE; end
            default: st <= B_IDLE;
            endcase
            if (st == B_DTX && tx_valid && tx_ready) tx_valid <= 1'b0;
        end
    end
endmodule
