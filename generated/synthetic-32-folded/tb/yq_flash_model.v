`timescale 1ns / 1ps
// yq_flash_model: behavioural model of the Winbond W25Q128JV (16 MiB SPI flash), for
// simulation only. Facts from the datasheet, revision M (2024-12-24), cited as [DS x.y].
//
// Memory: MEM_BYTES bytes (default the whole 16 MiB), erased (FFh) except for the $readmemh
// byte image IMAGE loaded at byte address OFFSET (default 1 MiB, where user data lives on the
// iCEBreaker); addresses at or above MEM_BYTES read FFh. Reads wrap from FFFFFFh to 0.
// Pins: csb, sck, and per io line an input (io_i, the resolved bus) and an output value /
// enable (io_o, io_oe): the testbench resolves the bus and checks for contention.
//
// It starts POWERED DOWN, as the iCE40 leaves it after configuration: until ABh [DS 8.2.22]
// every command is ignored (as the device does) and reported. Supported: ABh, 05h/35h
// [DS 8.2.4], 06h [DS 8.2.1], 50h [DS 8.2.2], 31h [DS 8.2.5], 0Bh [DS 8.2.7], 3Bh [DS 8.2.8],
// 6Bh [DS 8.2.9], BBh [DS 8.2.10], EBh [DS 8.2.11]; anything else is reported. Every report is
// a `FLASH ERROR` line and sets the sticky `error` output; `errors` counts them.
// Checked: CS high for tRES1 = 3 us after ABh, tSHSL1 = 10 ns after reads and tSHSL2 = 50 ns
// after other commands (a command that starts too early is ignored), tSLCH and tCHSH = 3 ns
// [DS 9.6] (with $realtime, in ns); QE = 1 for 6Bh/EBh [DS 8.2.9, 8.2.11]; mode bits M7-4 = Fh for BBh/EBh (figures 22a, 24a; M5-4 = 10
// would be the continuous read mode); /HOLD (io3) high during standard/dual commands while
// QE = 0 [DS 4.4]; a non-volatile status write (06h + 31h) is reported too: this project
// only ever writes the volatile copy (50h + 31h).
// Counters for system testbenches: bytes_read (memory bytes fully clocked out, i.e. whose
// last bit-time had its rising edge), sr_writes (volatile SR2 writes), commands, errors.
// Event-driven behavioural code: blocking assignments throughout, each variable written at
// one kind of event only.
/* verilator lint_off BLKSEQ */
module yq_flash_model #(
    parameter IMAGE = "flash.hex",
    parameter OFFSET = 24'h100000,
    parameter MEM_BYTES = 16777216,
    parameter QE_INIT = 0,     // 1: a -IQ part (QE fixed at 1), 0: an -IM part
    parameter real T_RES1 = 3000.0,
    parameter real T_SHSL1 = 10.0,
    parameter real T_SHSL2 = 50.0,
    parameter real T_SLCH = 3.0,
    parameter real T_CHSH = 3.0
) (
    input wire csb,
    input wire sck,
    input wire [3:0] io_i,
    output wire [3:0] io_o,
    output wire [3:0] io_oe,
    output wire error
);
    reg [7:0] mem [0:MEM_BYTES-1];
    integer i;
    initial begin
        for (i = 0; i < MEM_BYTES; i = i + 1) mem[i] = 8'hFF;
        $readmemh(IMAGE, mem, OFFSET);
    end

    // Written only at CS falling edges.
    integer n_fall = 0;
    realtime t_fall = 0.0;
    reg early = 1'b0;        // this command started inside tRES1 or tSHSL: ignored
    reg e_fall = 1'b0;
    integer e_fall_n = 0;
    // Written only at CS rising edges.
    reg pd = 1'b1;           // powered down
    realtime t_rise = -1.0e9;
    realtime t_rel = -1.0e9; // end of the last ABh
    reg released = 1'b0;
    reg last_rd = 1'b1;      // the last command was a read (tSHSL1 applies, else tSHSL2)
    reg [7:0] sr2 = (QE_INIT != 0) ? 8'h02 : 8'h00;
    reg wel = 1'b0, vwe = 1'b0;
    reg e_rise = 1'b0;
    integer e_rise_n = 0;
    integer sr_writes = 0;
    integer commands = 0;
    // Written only at SCK edges.
    integer n_seen = 0;      // n_fall of the command the clock counters belong to
    integer n = 0;           // rising edges in this command
    reg [7:0] cmd = 8'h00;
    reg ign = 1'b0;          // ignore the rest of this command
    reg [23:0] addr = 24'h0;
    reg [3:0] mbits = 4'h0;  // M7-M4
    reg [7:0] wdat = 8'h00;
    integer dpos = 0;
    integer bytes_read = 0;
    integer e_clk_n = 0;
    realtime t_sck = 0.0;
    reg e_clk = 1'b0;
    reg [3:0] o_r = 4'h0, oe_r = 4'h0;
    integer oe_tag = -1;

    /* verilator lint_off UNUSEDSIGNAL */
    integer errors;  // for testbenches
    /* verilator lint_on UNUSEDSIGNAL */
    always @* errors = e_clk_n + e_fall_n + e_rise_n;
    assign error = e_fall | e_rise | e_clk;
    assign io_o = o_r;
    assign io_oe = (!csb && oe_tag == n_fall) ? oe_r : 4'h0;
    wire qe = sr2[1];

    function [7:0] rd_byte;
        input [23:0] a;
        rd_byte = ({8'd0, a} < MEM_BYTES) ? mem[a] : 8'hFF;
    endfunction

    // Data phase geometry per instruction: first data bit-time and lanes.
    function integer data_bt;
        input [7:0] c;
        case (c)
            8'h0B, 8'h3B, 8'h6B: data_bt = 40;
            8'hBB: data_bt = 24;
            8'hEB: data_bt = 20;
            default: data_bt = 8;  // 05h / 35h
        endcase
    endfunction
    function integer lanes;
        input [7:0] c;
        case (c)
            8'h3B, 8'hBB: lanes = 2;
            8'h6B, 8'hEB: lanes = 4;
            default: lanes = 1;
        endcase
    endfunction
    function is_read;
        input [7:0] c;
        is_read = (c == 8'h0B) || (c == 8'h3B) || (c == 8'h6B) || (c == 8'hBB) || (c == 8'hEB);
    endfunction

    always @(negedge csb) begin
        n_fall = n_fall + 1;
        t_fall = $realtime;
        early = 1'b0;
        if (!pd && released && $realtime - t_rel < T_RES1) begin
            $display("FLASH ERROR %m at %0t: CS low %0.1f ns after ABh, tRES1 is %0.1f ns (DS 8.2.22, 9.6)",
                     $time, $realtime - t_rel, T_RES1);
            e_fall = 1'b1;
            e_fall_n = e_fall_n + 1;
            early = 1'b1;
        end else if ($realtime - t_rise < (last_rd ? T_SHSL1 : T_SHSL2)) begin
            $display("FLASH ERROR %m at %0t: CS high only %0.1f ns, tSHSL is %0.1f ns (DS 9.6)",
                     $time, $realtime - t_rise, last_rd ? T_SHSL1 : T_SHSL2);
            e_fall = 1'b1;
            e_fall_n = e_fall_n + 1;
            early = 1'b1;
        end
    end

    always @(posedge sck) if (!csb) begin
        if (n_seen != n_fall) begin
            n_seen = n_fall;
            n = 0;
            cmd = 8'h00;
            ign = early;
            dpos = 0;
            if ($realtime - t_fall < T_SLCH) clk_error("tSLCH (CS low to first SCK rise) below 3 ns");
        end
        t_sck = $realtime;
        if (!ign && !qe && !(lanes(cmd) == 4 && n >= 8) && io_i[3] !== 1'b1)
            clk_error("/HOLD (io3) low during a command while QE = 0 (DS 4.4)");
        if (n < 8) begin
            cmd = {cmd[6:0], io_i[0]};
            if (n == 7 && !ign) decode;
        end else if (!ign) begin
            case (cmd)
                8'h0B, 8'h3B, 8'h6B:
                    if (n < 32) addr = {addr[22:0], io_i[0]};
                    else if (n >= 40) data_clock;
                8'hBB:
                    if (n < 20) addr = {addr[21:0], io_i[1:0]};
                    else if (n < 24) begin
                        mbits = {mbits[1:0], io_i[1:0]};
                        if (n == 21) check_mode;
                    end else data_clock;
                8'hEB:
                    if (n < 14) addr = {addr[19:0], io_i};
                    else if (n < 16) begin
                        mbits = io_i;
                        if (n == 14) check_mode;
                    end else if (n >= 20) data_clock;
                8'h31: if (n < 16) wdat = {wdat[6:0], io_i[0]};
                default: ;
            endcase
        end
        n = n + 1;
    end

    task clk_error;
        input [8*96-1:0] msg;
        begin
            $display("FLASH ERROR %m at %0t: %0s", $time, msg);
            e_clk = 1'b1;
            e_clk_n = e_clk_n + 1;
        end
    endtask

    task decode;
        begin
            if (pd && cmd != 8'hAB) begin
                $display("FLASH ERROR %m at %0t: command 0x%02h while powered down (send ABh, wait tRES1; DS 8.2.21)",
                         $time, cmd);
                e_clk = 1'b1;
                e_clk_n = e_clk_n + 1;
                ign = 1'b1;
            end else begin
                case (cmd)
                    8'hAB, 8'h05, 8'h35, 8'h06, 8'h50, 8'h31, 8'h0B, 8'h3B, 8'hBB: ;
                    8'h6B, 8'hEB: if (!qe) begin
                        $display("FLASH ERROR %m at %0t: 0x%02h needs QE = 1 in Status Register-2 (DS 8.2.9, 8.2.11)",
                                 $time, cmd);
                        e_clk = 1'b1;
                        e_clk_n = e_clk_n + 1;
                        ign = 1'b1;
                    end
                    default: begin
                        $display("FLASH ERROR %m at %0t: unsupported command 0x%02h", $time, cmd);
                        e_clk = 1'b1;
                        e_clk_n = e_clk_n + 1;
                        ign = 1'b1;
                    end
                endcase
            end
        end
    endtask

    // Called once M7-M4 have been sampled.
    task check_mode;
        if (mbits[3:0] != 4'hF)
            clk_error("mode bits M7-M4 must be Fh (figures 22a, 24a); M5-4 = 10 is continuous read");
    endtask

    // One rising edge inside a memory data phase: the host samples a slice.
    task data_clock;
        begin
            dpos = dpos + 1;
            if (dpos == 8 / lanes(cmd)) begin
                dpos = 0;
                addr = addr + 24'd1;
                bytes_read = bytes_read + 1;
            end
        end
    endtask

    reg [7:0] ob;
    always @(negedge sck) if (!csb && !ign && n_seen == n_fall && n >= data_bt(cmd)) begin
        oe_tag = n_fall;
        if (is_read(cmd)) begin
            ob = rd_byte(addr);
            case (lanes(cmd))
                4: begin
                    o_r = (dpos == 0) ? ob[7:4] : ob[3:0];
                    oe_r = 4'b1111;
                end
                2: begin
                    o_r = {2'b00, ob[7 - 2 * dpos -: 2]};
                    oe_r = 4'b0011;
                end
                default: begin
                    o_r = {2'b00, ob[7 - dpos], 1'b0};
                    oe_r = 4'b0010;
                end
            endcase
        end else if (cmd == 8'h05 || cmd == 8'h35) begin
            ob = (cmd == 8'h05) ? {6'd0, wel, 1'b0} : sr2;
            o_r = {2'b00, ob[7 - (n - 8) % 8], 1'b0};
            oe_r = 4'b0010;
        end
    end

    always @(posedge csb) begin
        t_rise = $realtime;
        if (n_fall > 0 && n_seen == n_fall) begin
            commands = commands + 1;
            if ($realtime - t_sck < T_CHSH) begin
                $display("FLASH ERROR %m at %0t: tCHSH (last SCK rise to CS high) below 3 ns", $time);
                e_rise = 1'b1;
                e_rise_n = e_rise_n + 1;
            end
            last_rd = ign || is_read(cmd) || cmd == 8'h05 || cmd == 8'h35;
            if (!ign) begin
                if (cmd == 8'hAB && pd) begin
                    pd = 1'b0;
                    released = 1'b1;
                    t_rel = $realtime;
                end
                if (cmd == 8'h06 && n == 8) wel = 1'b1;
                if (cmd == 8'h31 && n == 16) begin
                    if (vwe) begin
                        // Volatile write: CMP, QE, SRL; LB3-1 are OTP (DS 8.2.5).
                        sr2 = (sr2 & 8'hBC) | (wdat & 8'h43) | (QE_INIT != 0 ? 8'h02 : 8'h00);
                        sr_writes = sr_writes + 1;
                    end else begin
                        $display("FLASH ERROR %m at %0t: 31h %0s", $time, wel
                                 ? "with 06h writes the non-volatile SR2 (wear): use 50h"
                                 : "without 50h or 06h is ignored");
                        e_rise = 1'b1;
                        e_rise_n = e_rise_n + 1;
                    end
                    wel = 1'b0;
                end
                vwe = (cmd == 8'h50 && n == 8);
            end
        end
    end
endmodule
/* verilator lint_on BLKSEQ */
