// yq_flash_reader: streams bytes from the iCEBreaker's SPI flash (Winbond W25Q128JV) for the
// folded accelerator. Facts from the W25Q128JV datasheet, revision M (2024-12-24), cited as
// [DS x.y].
//
// Pins: flash_clk and flash_csb are plain outputs; each of io0..io3 is an output value
// (flash_io_o), an output enable (flash_io_oe) and an input (flash_io_i). The top level owns
// the pads: on iCE40 one SB_IO per io line with PIN_TYPE 6'b1010_01 (tristate output, plain
// input: no pad registers, so the sampling point below holds), in simulation
// `assign io = oe ? o : 1'bz` or an explicit resolution as in rtl_tb/folded.
//
// SPI mode 0 [DS 6.1]: SCK idles low, the flash samples on the rising edge and shifts out on
// the falling edge [DS 4.2]. One SCK period ("bit-time") is two clk cycles: SCK = clk/2, SDR.
// Every output changes with the falling edge that starts a bit-time; input bits of a
// bit-time are sampled on the clk edge that ends it (the next falling edge), a full SCK
// period after the flash launched them (tCLQV 6 ns, hold tCLQX 1.5 ns [DS 9.6]).
//
// After reset (init):
//   1. ABh Release Power-down [DS 8.2.22] (the iCE40 leaves the flash powered down), then CS
//      high for tRES1 = 3 us [DS 9.6] (RES1_CYC cycles, one cycle of margin);
//   2. quad mode only: 35h Read Status Register-2 [DS 8.2.4]. QE is SR2 bit 1 (S9) [DS 7.1,
//      "Quad Enable"]; it is fixed at 1 on -IQ/-IN/-JQ parts (the iCEBreaker's W25Q128JVSIQ)
//      and 0 by default on -IM/-JM [DS 11]. If QE = 0: 50h Write Enable for Volatile Status
//      Register [DS 8.2.2] (does not set WEL), 31h Write Status Register-2 with the value
//      read | 02h [DS 8.2.5]: a volatile write, so the non-volatile register is never worn;
//      it takes effect within tSHSL2 = 50 ns and BUSY stays 0 [DS 8.2.5, 9.6], so no busy
//      polling is needed. Then 35h again: if QE is still 0, `fail` rises and `ready` never does.
//   3. `ready`.
// Between any two commands CS stays high for SHSL_CYC cycles >= tSHSL2 = 50 ns (the read
// minimum tSHSL1 is 10 ns) [DS 9.6].
//
// Read: when `ready` and `req` are high at a clk edge, a read of `len` bytes (len >= 1) from
// byte address `addr` starts. MODE selects the instruction [DS 8.1.3]:
//   2: Fast Read Quad I/O EBh [DS 8.2.11]: 8 clocks command on io0, 6 clocks address on io0-3,
//      2 clocks mode bits M7-0, 4 dummy clocks, then 2 clocks per byte on io0-3;
//   1: Fast Read Dual I/O BBh [DS 8.2.10]: 8 command, 12 address on io0-1, 4 clocks M7-0,
//      then 4 clocks per byte on io0-1;
//   0: Fast Read 0Bh [DS 8.2.7]: 8 command, 24 address on io0, 8 dummy, 8 clocks per byte
//      on io1.
// The mode bits are driven as Fxh as the datasheet asks (figures 22a and 24a): M7-M4 = 1111,
// the low nibble's clocks are the bus turnaround (host outputs off). M5-4 is never 10, so the
// continuous read mode is never entered. io2/io3 are driven high outside quad transfers
// (/WP and /HOLD when QE = 0 [DS 4.3, 4.4]). The flash increments the address itself, across
// every page and block and from FFFFFFh to 0 [DS 8.2.6], so a read of any length is one
// instruction.
//
// Stream: `data`/`valid` with `stall` backpressure: a byte is taken at a clk edge where valid
// is high and stall low. Behind the output register sits one skid byte; while both hold
// untaken bytes, the last bit-time of the next byte is held with SCK high (the flash keeps
// its output until the falling edge; SCK may stop at any level [DS 9.6: clock from D.C.]),
// so no byte is lost. The pause decision uses registered state only: `stall` reaches just
// the output registers, `stop` a few control flops, not the SPI engine's enables. `stop` aborts the read: the
// untaken bytes are dropped at the edge that samples it (valid low after it, no byte
// follows) and CS rises two edges later. CS rises one cycle after the last byte has been
// sampled.
//
// Cycle model, no stalls (t = the clk edge that samples req with ready high):
//   byte k (0-based) is taken at edge t + FIRST_BYTE_CYCLES + k * BYTE_CYCLES,
//     FIRST_BYTE_CYCLES = 2 * (DATA_BT + BYTE_BT) + 1 (quad 45, dual 57, single 97),
//     BYTE_CYCLES = 2 * BYTE_BT (quad 4, dual 8, single 16; 1/4, 1/8, 1/16 byte per cycle);
//   with req held high, the next read's req is sampled REQ_GAP_CYCLES (= SHSL_CYC) edges
//   after the edge that takes the last byte.
module yq_flash_reader #(
    parameter CLK_HZ = 12000000,
    parameter MODE = 2,
    parameter LW = 24,
    parameter SKIP_RPD = 0  // testbench only: skip ABh (must make the flash model fail)
) (
    input wire clk,
    input wire rst,
    output wire ready,
    output reg fail,
    input wire req,
    input wire [23:0] addr,
    input wire [LW-1:0] len,
    input wire stop,
    output reg [7:0] data,
    output reg valid,  // data holds an untaken byte
    input wire stall,
    output reg flash_clk,
    output reg flash_csb,
    output reg [3:0] flash_io_o,
    output reg [3:0] flash_io_oe,
    input wire [3:0] flash_io_i
);
    localparam LANES = (MODE == 2) ? 4 : (MODE == 1) ? 2 : 1;
    localparam [7:0] RD_CMD = (MODE == 2) ? 8'hEB : (MODE == 1) ? 8'hBB : 8'h0B;
    localparam ADDR_BT = 24 / LANES;
    localparam MODE_BT = (MODE == 2) ? 2 : (MODE == 1) ? 4 : 0;
    localparam DUMMY_BT = (MODE == 2) ? 4 : (MODE == 1) ? 0 : 8;
    localparam DATA_BT = 8 + ADDR_BT + MODE_BT + DUMMY_BT;  // first data bit-time
    localparam RELEASE_BT = 8 + ADDR_BT + MODE_BT / 2;      // host outputs off
    localparam BYTE_BT = 8 / LANES;
    /* verilator lint_off UNUSEDPARAM */
    localparam FIRST_BYTE_CYCLES = 2 * (DATA_BT + BYTE_BT) + 1;
    localparam BYTE_CYCLES = 2 * BYTE_BT;
    // ceil(3 us * CLK_HZ) + 1 and ceil(50 ns * CLK_HZ), without 32-bit overflow.
    localparam RES1_CYC =
        (CLK_HZ / 1000000) * 3 + ((CLK_HZ % 1000000) * 3 + 999999) / 1000000 + 1;
    localparam SHSL_CYC = (CLK_HZ + 19999999) / 20000000;
    localparam REQ_GAP_CYCLES = SHSL_CYC;
    /* verilator lint_on UNUSEDPARAM */
    localparam CW = $clog2(RES1_CYC + 1);
    localparam [31:0] RES1_M1_32 = RES1_CYC - 1;
    localparam [31:0] SHSL_M1_32 = SHSL_CYC - 1;
    localparam [31:0] BB_LAST_32 = BYTE_BT - 1;
    localparam [CW-1:0] RES1_M1 = RES1_M1_32[CW-1:0];
    localparam [CW-1:0] SHSL_M1 = SHSL_M1_32[CW-1:0];
    localparam [5:0] HDR_LAST_RD = DATA_BT - 1;
    localparam [5:0] REL_M1 = RELEASE_BT - 1;
    localparam [2:0] BB_LAST = BB_LAST_32[2:0];
    localparam [2:0] LANES3 = LANES;

    // Init steps; K_DONE = initialised (reads), K_FAIL = QE could not be set.
    localparam [2:0] K_RPD = 3'd0, K_RDSR = 3'd1, K_WEV = 3'd2, K_WRSR = 3'd3,
        K_VERIFY = 3'd4, K_DONE = 3'd5, K_FAIL = 3'd6;
    localparam [2:0] K_FIRST = (SKIP_RPD != 0) ? ((MODE == 2) ? K_RDSR : K_DONE) : K_RPD;
    localparam [1:0] S_GAP = 2'd0, S_SHIFT = 2'd1, S_CSUP = 2'd2;

    reg [1:0] state;
    reg [2:0] k;
    reg ki, kd;              // k is an init step / K_DONE
    reg [CW-1:0] cnt;
    reg gap_ok;              // state == S_GAP and cnt == 0: a command may start
    reg arm_r;               // SCK-low half of a bit-time: the next edge raises SCK
    reg arm_f;               // SCK-high half: the next edge lowers SCK unless held
    reg [5:0] bt;            // header bit-time
    reg [5:0] hdr_last;      // last header bit-time of the running command
    reg in_data;             // the running bit-time is a data (input) bit-time
    reg [2:0] bb;            // bit-time within the byte
    reg [2:0] bb_last;
    reg is_read;             // memory read (else an init command)
    reg has_rd;              // the command has a data phase
    reg [2:0] tl;            // output lanes of the running bit-time (1, 2, 4)
    reg [2:0] rl;            // input lanes of the data phase (1, 2, 4)
    reg [39:0] tx;           // bits to send, MSB first
    reg [6:0] rx;
    reg [7:0] sr2;
    reg [LW-1:0] left;       // bytes not yet received, the current one included
    reg rel;                 // host outputs released for the rest of the command
    reg [7:0] sk;            // skid byte behind `data`
    reg sk_v;
    reg full;                // valid && sk_v, as its own register
    reg abort;               // stop was sampled during a read
    // Decided on the rising SCK step from bit-time state, used on the falling step.
    reg cap;                 // this bit-time completes a byte
    reg pend;                // SCK is high on the last bit-time of a read byte
    reg fin;                 // this bit-time ends the command
    reg hl;                  // this is the last header bit-time
    reg wid;                 // the next bit-time switches to LANES (reads, after the command)
    reg rls;                 // the next bit-time releases the host outputs

    assign ready = gap_ok && kd;

    wire [7:0] byte_n = (rl == 3'd4) ? {rx[3:0], flash_io_i} :
                        (rl == 3'd2) ? {rx[5:0], flash_io_i[1:0]} : {rx[6:0], flash_io_i[1]};
    wire hold = pend && full;           // both output slots full
    wire rise = arm_r;
    wire fall = arm_f && !hold;
    wire push = pend && !hold;          // pend implies arm_f
    wire abort_n = stop && is_read && (state == S_SHIFT);
    wire take = valid && !stall;
    wire v_n = !stop && (take ? (sk_v || push) : (valid || push));
    wire sk_n = !stop && (take ? (sk_v && push) : (sk_v || (push && valid)));
    wire launch = gap_ok && (ki || (kd && req));
    wire [39:0] tx_n = (tl == 3'd4) ? {tx[35:0], 4'hF} :
                       (tl == 3'd2) ? {tx[37:0], 2'b11} : {tx[38:0], 1'b1};
    wire unused_sent = tx[39];  // already on the pins
    wire [2:0] tl_n = wid ? LANES3 : tl;
    wire [7:0] cmd_k = cmd_of(k);
    wire [7:0] rd_arg = (k == K_WRSR) ? (sr2 | 8'h02) : 8'hFF;

    always @(posedge clk) begin
        if (rst) begin
            state <= S_GAP;
            k <= K_FIRST;
            ki <= K_FIRST != K_DONE;
            kd <= K_FIRST == K_DONE;
            cnt <= {CW{1'b0}};
            gap_ok <= 1'b1;
            fail <= 1'b0;
            valid <= 1'b0;
            data <= 8'h00;
            sk <= 8'h00;
            sk_v <= 1'b0;
            full <= 1'b0;
            abort <= 1'b0;
            flash_clk <= 1'b0;
            flash_csb <= 1'b1;
            flash_io_o <= 4'b1111;
            flash_io_oe <= 4'b0000;
            arm_r <= 1'b0;
            arm_f <= 1'b0;
            bt <= 6'd0;
            hdr_last <= 6'd0;
            in_data <= 1'b0;
            bb <= 3'd0;
            bb_last <= 3'd7;
            is_read <= 1'b0;
            has_rd <= 1'b0;
            tl <= 3'd1;
            rl <= 3'd1;
            tx <= 40'd0;
            rx <= 7'd0;
            sr2 <= 8'd0;
            left <= {LW{1'b0}};
            rel <= 1'b0;
            cap <= 1'b0;
            pend <= 1'b0;
            fin <= 1'b0;
            hl <= 1'b0;
            wid <= 1'b0;
            rls <= 1'b0;
        end else begin
            // Output side: two-entry FIFO (data, sk); bytes leave in order; stop empties it.
            valid <= v_n;
            sk_v <= sk_n;
            full <= v_n && sk_n;
            if (take) begin
                data <= sk_v ? sk : byte_n;
                sk <= byte_n;
            end else if (push) begin
                if (!valid) data <= byte_n;
                else sk <= byte_n;
            end
            abort <= abort_n;

            if (launch) begin
                // CS low, bit-time 0 driven: command bit 7 on io0, io2/io3 high.
                flash_csb <= 1'b0;
                flash_clk <= 1'b0;
                gap_ok <= 1'b0;
                arm_r <= 1'b1;
                arm_f <= 1'b0;
                bt <= 6'd0;
                in_data <= 1'b0;
                bb <= 3'd0;
                rel <= 1'b0;
                is_read <= kd;
                has_rd <= kd || (k == K_RDSR) || (k == K_VERIFY);
                hdr_last <= kd ? HDR_LAST_RD : (k == K_WRSR) ? 6'd15 : 6'd7;
                tl <= 3'd1;
                rl <= kd ? LANES3 : 3'd1;
                bb_last <= kd ? BB_LAST : 3'd7;
                left <= kd ? len : {{(LW - 1){1'b0}}, 1'b1};
                tx <= {cmd_k, kd ? addr : {rd_arg, 16'hFFFF}, 8'hFF};
                flash_io_o <= {3'b111, cmd_k[7]};
                flash_io_oe <= 4'b1101;
                state <= S_SHIFT;
            end else if (state == S_GAP && !gap_ok) begin
                cnt <= cnt - 1'b1;
                gap_ok <= cnt == {{(CW - 1){1'b0}}, 1'b1};
            end

            if (state == S_SHIFT && abort) begin
                flash_clk <= 1'b0;
                state <= S_CSUP;
            end
            if (rise) begin
                flash_clk <= 1'b1;
                arm_r <= 1'b0;
                arm_f <= 1'b1;
                cap <= in_data && (bb == bb_last);
                pend <= in_data && (bb == bb_last) && is_read;
                fin <= in_data ? (bb == bb_last && left == {{(LW - 1){1'b0}}, 1'b1}) : (!has_rd && bt == hdr_last);
                hl <= bt == hdr_last;
                wid <= is_read && bt == 6'd7;
                rls <= is_read && (MODE != 0) && (bt == REL_M1);
            end
            if (fall) begin
                // Falling edge: sample the bit-time that ends, drive the next one.
                flash_clk <= 1'b0;
                arm_f <= 1'b0;
                arm_r <= !fin;
                pend <= 1'b0;
                if (in_data) begin
                    rx <= byte_n[6:0];
                    bb <= cap ? 3'd0 : bb + 1'b1;
                end
                if (cap) begin
                    if (!is_read) sr2 <= byte_n;
                    left <= left - 1'b1;
                end
                if (!in_data) begin
                    bt <= bt + 1'b1;
                    if (hl) in_data <= 1'b1;
                end
                tx <= tx_n;
                tl <= tl_n;
                if (rls) begin
                    flash_io_oe <= (MODE == 2) ? 4'b0000 : 4'b1100;
                    rel <= 1'b1;
                end else if (rel) begin
                    // io lines stay with the flash until CS rises
                end else if (tl_n == 3'd4) begin
                    flash_io_o <= tx_n[39:36];
                    flash_io_oe <= 4'b1111;
                end else if (tl_n == 3'd2) begin
                    flash_io_o <= {2'b11, tx_n[39:38]};
                    flash_io_oe <= 4'b1111;
                end else begin
                    flash_io_o <= {3'b111, tx_n[39]};
                end
                if (fin) state <= S_CSUP;
            end

            if (state == S_CSUP) begin
                flash_csb <= 1'b1;
                state <= S_GAP;
                cnt <= (k == K_RPD) ? RES1_M1 : SHSL_M1;
                gap_ok <= ((k == K_RPD) ? RES1_M1 : SHSL_M1) == {CW{1'b0}};
                case (k)
                    K_RPD: set_k((MODE == 2) ? K_RDSR : K_DONE);
                    K_RDSR: set_k(sr2[1] ? K_DONE : K_WEV);
                    K_WEV: set_k(K_WRSR);
                    K_WRSR: set_k(K_VERIFY);
                    K_VERIFY: begin
                        set_k(sr2[1] ? K_DONE : K_FAIL);
                        fail <= !sr2[1];
                    end
                    default: ;
                endcase
            end
            if (stop) pend <= 1'b0;  // after the rise step: no byte follows a stop
            if (abort_n) begin
                arm_r <= 1'b0;
                arm_f <= 1'b0;
            end
        end
    end

    function [7:0] cmd_of;
        input [2:0] kk;
        case (kk)
            K_RPD: cmd_of = 8'hAB;
            K_RDSR, K_VERIFY: cmd_of = 8'h35;
            K_WEV: cmd_of = 8'h50;
            K_WRSR: cmd_of = 8'h31;
            default: cmd_of = RD_CMD;
        endcase
    endfunction

    task set_k;
        input [2:0] nk;
        begin
            k <= nk;
            ki <= nk < K_DONE;
            kd <= nk == K_DONE;
        end
    endtask
endmodule
